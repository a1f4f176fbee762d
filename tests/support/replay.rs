//! The replay of `events/` shared by `tests/events.rs` (in process, through `lambda_http`) and
//! `tests/lambda_rie.rs` (the real binaries under AWS's Runtime Interface Emulator): every
//! sample event, in an order that makes each one succeed, with the status it must produce.

use std::path::{Path, PathBuf};

use shared::Function;

/// Files (stems under `events/`) in the order they are replayed, with the status each must
/// produce. The part of a stem before `-` is the function's crate name.
pub const SEQUENCE: &[(&str, u16)] = &[
    ("register", 200),
    ("register-options", 204),
    ("login", 200),
    ("login-options", 204),
    ("user_info", 200),
    ("user_info-options", 204),
    ("user_icon", 200),
    ("user_icon-options", 204),
    ("user_password", 200),
    ("user_password-options", 204),
    ("logout", 200),
    ("logout-options", 204),
];

/// The token the sample files carry; replaced by the live one before each call.
pub const SAMPLE_TOKEN: &str = "8ca6dd209e7f780229cdee74ef525dfe";

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The function a sample event belongs to.
pub fn function_of(file_stem: &str) -> Function {
    let crate_name = file_stem.split('-').next().unwrap();
    *Function::ALL.iter().find(|f| f.crate_name() == crate_name).unwrap_or_else(|| panic!("no function {crate_name}"))
}

/// Every stem under `events/`, sorted.
pub fn event_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// The sample event `stem`, carrying `token` instead of the sample token.
pub fn event(stem: &str, token: &str) -> String {
    std::fs::read_to_string(events_dir().join(format!("{stem}.json")))
        .unwrap_or_else(|e| panic!("events/{stem}.json: {e}"))
        .replace(SAMPLE_TOKEN, token)
}

/// Every file is replayed exactly once, and only those.
#[track_caller]
pub fn assert_sequence_covers_events() {
    let mut listed: Vec<String> = SEQUENCE.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(event_files(), listed, "every events/ file is replayed, and only those");
}
