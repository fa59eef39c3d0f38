//! The run-folder lock: one holder at a time, released on drop, with the holder's pid in the
//! refusal.

use mib::train::lock::RunLock;

#[test]
fn a_held_lock_refuses_a_second_holder_until_dropped() {
    let d = std::env::temp_dir().join(format!("mib-run-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    RunLock::check_free(&d).unwrap(); // no lock file yet
    let held = RunLock::acquire(&d).unwrap();
    let pid = std::process::id().to_string();
    assert_eq!(std::fs::read_to_string(held.path()).unwrap().trim(), pid);
    for e in [
        RunLock::acquire(&d).unwrap_err().to_string(),
        RunLock::check_free(&d).unwrap_err().to_string(),
    ] {
        assert!(
            e.contains(&format!(
                "another mib process (pid {pid}) is training this run folder"
            )) && e.contains(d.to_str().unwrap()),
            "{e}"
        );
    }
    drop(held);
    RunLock::check_free(&d).unwrap();
    let again = RunLock::acquire(&d).unwrap();
    drop(again);
    let _ = std::fs::remove_dir_all(&d);
}
