//! One module per subcommand. Errors that are the user's (bad arguments,
//! unreadable or invalid input) are wrapped in [`BadInput`] and exit with 2;
//! everything else exits with 1.

pub mod eval;
pub mod outliers;
pub mod score;
pub mod serve;
pub mod simulate;
pub mod train;

use std::fmt;

/// Marks an error as the user's input's fault: exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// `Err(bad_input(..))` from a command exits with status 2.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<BadInput>()) {
        2
    } else {
        1
    }
}

/// Progress bar on stderr only when stderr is a terminal.
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{msg} {wide_bar} {pos}/{len} [{elapsed_precise}] {per_sec}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}
