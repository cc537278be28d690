//! Live state of one API or endpoint: the ticks of the current window.

use crate::histogram::{DenseHistogram, SparseHistogram};
use std::collections::VecDeque;

pub(crate) const FLAG_5XX: u8 = 1;
pub(crate) const FLAG_4XX: u8 = 2;
pub(crate) const FLAG_SLOW: u8 = 4;
pub(crate) const FLAG_SIZE: u8 = 8;
pub(crate) const FLAG_NEW_COUNTRY: u8 = 16;
/// Unflagged ids kept per tick (for rate alerts, which flag nothing).
const PLAIN_IDS_PER_TICK: usize = 4;

/// What one tick of one series saw.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    pub requests: u32,
    pub errors_5xx: u32,
    pub errors_4xx: u32,
    /// Requests slow against their endpoint's baseline.
    pub slow: u32,
    pub latency: SparseHistogram,
    pub request_bytes: SparseHistogram,
    pub response_bytes: SparseHistogram,
    /// (country index of the API, requests), API series only.
    pub countries: Vec<(u16, u32)>,
    /// Distinct (client hash, country index), sorted by hash, API series only.
    pub clients: Vec<(u64, u16)>,
    /// Request ids with the flags that made them worth naming: (flags,
    /// start, end) into `id_text`, one buffer so a tick allocates once.
    ids: Vec<(u8, u32, u32)>,
    id_text: String,
    flagged_ids: u16,
    plain_ids: u16,
}

impl Tick {
    pub fn add(&mut self, latency_ms: f64, request_bytes: u64, response_bytes: u64, status: u16) {
        self.requests = self.requests.saturating_add(1);
        match status {
            500..=599 => self.errors_5xx = self.errors_5xx.saturating_add(1),
            400..=499 => self.errors_4xx = self.errors_4xx.saturating_add(1),
            _ => {}
        }
        self.latency.add(latency_ms);
        self.request_bytes.add(request_bytes as f64);
        // Error pages and 304s have their own sizes: only successes tell a shift.
        if (200..300).contains(&status) {
            self.response_bytes.add(response_bytes as f64);
        }
    }

    pub fn add_country(&mut self, country: u16) {
        match self.countries.iter_mut().find(|c| c.0 == country) {
            Some(c) => c.1 = c.1.saturating_add(1),
            None => self.countries.push((country, 1)),
        }
    }

    pub fn add_client(&mut self, client: u64, country: u16, cap: usize) {
        if let Err(i) = self.clients.binary_search_by_key(&client, |c| c.0) {
            if self.clients.len() < cap {
                self.clients.insert(i, (client, country));
            }
        }
    }

    pub fn keep_id(&mut self, flags: u8, id: &str, flagged_cap: usize) {
        let keep = if flags != 0 {
            usize::from(self.flagged_ids) < flagged_cap
        } else {
            usize::from(self.plain_ids) < PLAIN_IDS_PER_TICK
        };
        // Ids are short; one past 4 GiB of text in a tick is not kept.
        let (Ok(start), Ok(end)) = (
            u32::try_from(self.id_text.len()),
            u32::try_from(self.id_text.len() + id.len()),
        ) else {
            return;
        };
        if !keep {
            return;
        }
        if flags != 0 {
            self.flagged_ids += 1;
        } else {
            self.plain_ids += 1;
        }
        self.id_text.push_str(id);
        self.ids.push((flags, start, end));
    }

    fn kept_ids(&self) -> impl Iterator<Item = (u8, &str)> {
        self.ids.iter().filter_map(|&(flags, start, end)| {
            Some((flags, self.id_text.get(start as usize..end as usize)?))
        })
    }

    /// Empties the tick, keeping its buffers for the next one.
    fn reset(&mut self) {
        self.requests = 0;
        self.errors_5xx = 0;
        self.errors_4xx = 0;
        self.slow = 0;
        self.latency.clear();
        self.request_bytes.clear();
        self.response_bytes.clear();
        self.countries.clear();
        self.clients.clear();
        self.ids.clear();
        self.id_text.clear();
        self.flagged_ids = 0;
        self.plain_ids = 0;
    }

    fn heap_bytes(&self) -> usize {
        self.latency.heap_bytes()
            + self.request_bytes.heap_bytes()
            + self.response_bytes.heap_bytes()
            + self.countries.capacity() * std::mem::size_of::<(u16, u32)>()
            + self.clients.capacity() * std::mem::size_of::<(u64, u16)>()
            + self.ids.capacity() * std::mem::size_of::<(u8, u32, u32)>()
            + self.id_text.capacity()
    }
}

/// The last `window_ticks` ticks of one series and its deviation streaks.
#[derive(Debug, Default)]
pub(crate) struct Series {
    ticks: VecDeque<(i64, Tick)>,
    /// An expired tick kept for its buffers.
    spare: Option<Tick>,
    /// Consecutive deviating evaluations, per monitor kind.
    pub streaks: [u32; 6],
}

impl Series {
    /// The tick `number`, created if new; ticks older than the window go.
    pub fn tick_mut(&mut self, number: i64, window_ticks: u32) -> &mut Tick {
        self.expire(number, window_ticks);
        let fresh = self.ticks.back().map(|(n, _)| *n) != Some(number);
        if fresh {
            let tick = match self.spare.take() {
                Some(mut t) => {
                    t.reset();
                    t
                }
                None => Tick::default(),
            };
            self.ticks.push_back((number, tick));
        }
        // The deque is not empty: a tick was just found or pushed.
        let last = self.ticks.len() - 1;
        &mut self.ticks[last].1
    }

    /// Drops ticks that fall out of the window ending with tick `current`.
    pub fn expire(&mut self, current: i64, window_ticks: u32) {
        let oldest_kept = current - i64::from(window_ticks) + 1;
        while self.ticks.front().is_some_and(|(n, _)| *n < oldest_kept) {
            if let Some((_, tick)) = self.ticks.pop_front() {
                self.spare = Some(tick);
            }
        }
    }

    pub fn ticks(&self) -> impl Iterator<Item = &Tick> {
        self.ticks.iter().map(|(_, t)| t)
    }

    /// Requests in the ticks kept.
    pub fn requests(&self) -> u64 {
        self.ticks().map(|t| u64::from(t.requests)).sum()
    }

    pub fn heap_bytes(&self) -> usize {
        self.ticks.capacity() * std::mem::size_of::<(i64, Tick)>()
            + self
                .ticks
                .iter()
                .map(|(_, t)| t.heap_bytes())
                .sum::<usize>()
    }

    /// Sums the window (the ticks kept) into `into`.
    pub fn summarize(&self, into: &mut WindowStats) {
        self.summarize_since(i64::MIN, into);
    }

    /// Sums the kept ticks numbered `oldest` or later into `into`.
    pub fn summarize_since(&self, oldest: i64, into: &mut WindowStats) {
        into.clear();
        for (_, t) in self.ticks.iter().filter(|(n, _)| *n >= oldest) {
            into.requests += u64::from(t.requests);
            into.errors_5xx += u64::from(t.errors_5xx);
            into.errors_4xx += u64::from(t.errors_4xx);
            into.slow += u64::from(t.slow);
            into.latency.add_sparse(&t.latency);
            into.request_bytes.add_sparse(&t.request_bytes);
            into.response_bytes.add_sparse(&t.response_bytes);
            for &(country, n) in &t.countries {
                match into.countries.iter_mut().find(|c| c.0 == country) {
                    Some(c) => c.1 += u64::from(n),
                    None => into.countries.push((country, u64::from(n))),
                }
            }
        }
        into.countries.sort_unstable();
        self.sum_clients(oldest, into);
    }

    /// Replaces `into`'s clients with those of the kept ticks from `oldest` on.
    fn sum_clients(&self, oldest: i64, into: &mut WindowStats) {
        into.client_list.clear();
        self.add_clients(oldest, i64::MAX, into);
    }

    /// Adds the clients of the kept ticks numbered `from..to` to `into`'s
    /// (which hold those of other ticks), and recounts their countries. A
    /// client seen in several ticks counts once, with its lowest country
    /// index: what sorting and deduplicating all the lists together gives.
    pub fn add_clients(&self, from: i64, to: i64, into: &mut WindowStats) {
        let known = into.client_list.len();
        for (_, t) in self.ticks.iter().filter(|(n, _)| (from..to).contains(n)) {
            into.client_list.extend_from_slice(&t.clients);
        }
        if known == 0 {
            into.client_list.sort_unstable();
            into.client_list.dedup_by_key(|c| c.0);
        } else {
            // The known clients are sorted already: sort the new ones and
            // merge, rather than sorting everything again.
            into.client_list[known..].sort_unstable();
            let (old, new) = into.client_list.split_at(known);
            merge_clients(old, new, &mut into.merged);
            std::mem::swap(&mut into.client_list, &mut into.merged);
        }
        into.client_countries.clear();
        into.clients = into.client_list.len() as u64;
        for &(_, country) in &into.client_list {
            match into.client_countries.iter_mut().find(|c| c.0 == country) {
                Some(c) => c.1 += 1,
                None => into.client_countries.push((country, 1)),
            }
        }
        into.client_countries.sort_unstable();
    }

    /// Up to `limit` ids of the window whose flags meet `mask` (any id when
    /// `mask` is 0 or nothing matches), oldest first.
    pub fn ids(&self, mask: u8, limit: usize) -> Vec<String> {
        self.ids_since(i64::MIN, mask, limit)
    }

    /// [`Series::ids`] of the kept ticks numbered `oldest` or later.
    pub fn ids_since(&self, oldest: i64, mask: u8, limit: usize) -> Vec<String> {
        let pick = |want: &dyn Fn(u8) -> bool| -> Vec<String> {
            self.ticks
                .iter()
                .filter(|(n, _)| *n >= oldest)
                .flat_map(|(_, t)| t.kept_ids())
                .filter(|(flags, _)| want(*flags))
                .take(limit)
                .map(|(_, id)| id.to_string())
                .collect()
        };
        let matching = if mask == 0 {
            Vec::new()
        } else {
            pick(&|flags| flags & mask != 0)
        };
        if matching.is_empty() {
            pick(&|_| true)
        } else {
            matching
        }
    }
}

/// `a` and `b` sorted, merged into `out` with each client once (its first
/// entry in sorted order: the lowest country index).
fn merge_clients(a: &[(u64, u16)], b: &[(u64, u16)], out: &mut Vec<(u64, u16)>) {
    out.clear();
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    loop {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => break,
        };
        if out.last().is_none_or(|last| last.0 != next.0) {
            out.push(next);
        }
    }
}

/// One window summed up, reused between evaluations.
#[derive(Debug, Default)]
pub(crate) struct WindowStats {
    pub requests: u64,
    pub errors_5xx: u64,
    pub errors_4xx: u64,
    pub slow: u64,
    pub latency: DenseHistogram,
    pub request_bytes: DenseHistogram,
    pub response_bytes: DenseHistogram,
    /// (country index, requests), sorted by index.
    pub countries: Vec<(u16, u64)>,
    /// Distinct clients, and (country index, distinct clients) sorted by index.
    pub clients: u64,
    pub client_countries: Vec<(u16, u64)>,
    client_list: Vec<(u64, u16)>,
    /// Scratch of the client merge.
    merged: Vec<(u64, u16)>,
}

impl WindowStats {
    /// Cleared, with the clients of `other` (to add more ticks' to).
    pub fn clients_of(&mut self, other: &WindowStats) {
        self.clear();
        self.clients = other.clients;
        self.client_list.extend_from_slice(&other.client_list);
        self.client_countries
            .extend_from_slice(&other.client_countries);
    }

    fn clear(&mut self) {
        self.requests = 0;
        self.errors_5xx = 0;
        self.errors_4xx = 0;
        self.slow = 0;
        self.latency.clear();
        self.request_bytes.clear();
        self.response_bytes.clear();
        self.countries.clear();
        self.clients = 0;
        self.client_countries.clear();
        self.client_list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The window's distinct clients are those of its ticks, each with
        /// its lowest country index, as sorting and deduplicating all the
        /// ticks' lists together would give.
        #[test]
        fn window_clients_are_the_ticks_clients_deduplicated(
            ticks in prop::collection::vec(
                prop::collection::vec((0u64..40, 0u16..4), 0..30),
                1..6,
            )
        ) {
            let mut series = Series::default();
            let mut all = Vec::new();
            for (n, clients) in ticks.iter().enumerate() {
                let tick = series.tick_mut(n as i64, 16);
                for &(client, country) in clients {
                    tick.add_client(client, country, usize::MAX);
                }
                all.extend_from_slice(&tick.clients);
            }
            all.sort_unstable();
            all.dedup_by_key(|c| c.0);
            let mut stats = WindowStats::default();
            series.summarize_since(i64::MIN, &mut stats);
            prop_assert_eq!(&stats.client_list, &all);
            prop_assert_eq!(stats.clients, all.len() as u64);
            // The same grown from the newest ticks back, as pooled spans are.
            let half = (ticks.len() / 2) as i64;
            let mut grown = WindowStats::default();
            series.summarize_since(half, &mut grown);
            let mut pooled = WindowStats::default();
            pooled.clients_of(&grown);
            series.add_clients(0, half, &mut pooled);
            prop_assert_eq!(&pooled.client_list, &all);
            prop_assert_eq!(&pooled.client_countries, &stats.client_countries);
            prop_assert_eq!(pooled.clients, all.len() as u64);
        }
    }
}
