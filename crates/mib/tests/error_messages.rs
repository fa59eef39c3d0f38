//! Library errors read as one sentence: an I/O error says what was attempted, on which path, and
//! why, once, also when a report prints the whole chain (`anyhow`'s `{:#}`, as `mib` does).

use mib::Error;
use std::io;

#[test]
fn io_errors_name_the_operation_and_say_the_reason_once() {
    let e = Error::io(
        "creating run folder",
        "/tmp/f/run",
        io::Error::from_raw_os_error(libc_enotdir()),
    );
    assert_eq!(
        e.to_string(),
        "creating run folder /tmp/f/run: not a directory"
    );
    assert!(std::error::Error::source(&e).is_none());
    let chained = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(chained, "creating run folder /tmp/f/run: not a directory");

    // An error without an OS code keeps its text; an acronym keeps its case.
    let e = Error::io(
        "reading",
        "x.idx",
        io::Error::from(io::ErrorKind::UnexpectedEof),
    );
    assert_eq!(e.to_string(), "reading x.idx: unexpected end of file");
    let e = Error::io("reading", "y", io::Error::other("EOF in header"));
    assert_eq!(e.to_string(), "reading y: EOF in header");
}

#[test]
fn wrapped_format_errors_are_not_repeated_either() {
    let j = serde_json::from_str::<u32>("nope").unwrap_err();
    let text = j.to_string();
    let chained = format!("{:#}", anyhow::Error::from(Error::from(j)));
    assert_eq!(chained, format!("json: {text}"));
}

/// ENOTDIR on Linux (20), the error a path under a regular file gives.
fn libc_enotdir() -> i32 {
    20
}
