//! The tools' standard output. A reader that stops reading (`casewatch replay | head`) ends
//! a tool quietly, as it ends `cat`, rather than in a panic.

use std::fmt;
use std::io::{self, Write as _};

/// Standard output was closed by its reader.
#[derive(Debug)]
pub(crate) struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for Closed {}

fn written(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Err(Closed.into()),
        Err(error) => Err(anyhow::Error::new(error).context("write to standard output")),
    }
}

/// Writes one line to standard output.
pub(crate) fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    written(writeln!(io::stdout().lock(), "{args}"))
}

/// Writes bytes to standard output.
pub(crate) fn bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    written(out.write_all(bytes).and_then(|()| out.flush()))
}

/// Ends the process when a tool stopped because its standard output was closed: quietly,
/// with status 141 (128 + SIGPIPE), what a shell reports for `cat` in the same place.
pub(crate) fn stop_if_closed(result: &anyhow::Result<()>) {
    if let Err(error) = result
        && error.chain().any(|cause| cause.is::<Closed>())
    {
        std::process::exit(141);
    }
}

/// `println!` for the tools: an error, rather than a panic, when standard output is gone.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}

pub(crate) use outln;
