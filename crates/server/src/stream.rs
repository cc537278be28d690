//! `GET /v1/alerts/stream`: alerts as Server-Sent Events (`event: alert`,
//! `data: <alert JSON with its API's current owner>`), each when it opens or
//! its severity rises. The stream ends when the service shuts down, so it
//! never holds shutdown up.

use crate::auth::{Authed, ReadRole};
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub async fn alerts_stream(
    _auth: Authed<ReadRole>,
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.outputs.alerts.subscribe();
    let mut shutdown = state.shutdown.subscribe();
    let ended = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    let owners = std::sync::Arc::clone(state.outputs.webhooks.owners());
    let events = BroadcastStream::new(rx)
        .filter_map(move |item| {
            let owners = std::sync::Arc::clone(&owners);
            async move {
                match item {
                    Ok(alert) => Event::default()
                        .event("alert")
                        .json_data(owners.stamp(&alert))
                        .ok(),
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        metrics::counter!("apiwarden_sse_lagged_total").increment(n);
                        Some(Event::default().event("lagged").data(n.to_string()))
                    }
                }
            }
        })
        .map(Ok)
        .take_until(Box::pin(ended));
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
