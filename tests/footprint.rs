//! Each function's binary holds its own routes' code and no other function's: a bug or a
//! gadget in the rooms handlers cannot be reached through the login function, and a function
//! pays Init and size for its own code only. Read from the symbol tables of the binaries
//! `make test` builds (`cargo build --workspace --bins`, unstripped); `LAMBDA_RIE_BIN_DIR`
//! points at other builds. Symbols are Rust's legacy mangling: `shared::handlers::rooms::list`
//! is `_ZN6shared8handlers5rooms4list...`, so a module shows up as `8handlers5rooms`.

use api_tests::rie::binary_dir;
use shared::Function;

/// A mangled path segment: `rooms` -> `5rooms`.
fn segment(name: &str) -> String {
    format!("{}{name}", name.len())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// Code that only some functions may link, by mangled module path.
const RESTRICTED: &[(&str, &[&str])] = &[
    // argon2id: only where a password is set or checked.
    ("6argon2", &["register", "login", "user_password", "password_reset", "account_delete"]),
    ("4auth9passwords", &["register", "login", "user_password", "password_reset", "account_delete"]),
    // SMS captcha codes: sending and checking them.
    ("4auth7captcha", &["phone_captcha", "phone_login", "phone_bind", "password_reset", "account_delete"]),
    ("5store7captcha", &["phone_captcha", "phone_login", "phone_bind", "password_reset", "account_delete"]),
    // Rooms: their function, and account deletion, which removes the account's rooms.
    ("5store5rooms", &["rooms", "account_delete"]),
    // Image decoders and encoders: only the function that takes uploads (cargo feature `avatars`).
    ("N5image", &["user_icon"]),
    ("N9zune_jpeg", &["user_icon"]),
    ("N10image_webp", &["user_icon"]),
    ("7avatars7picture", &["user_icon"]),
    // The S3 client: the function that writes avatars and the one that erases them with the account.
    ("N10aws_sdk_s3", &["user_icon", "account_delete"]),
];

#[test]
fn each_function_binary_links_only_its_own_handlers() {
    let dir = binary_dir();
    let mut wrong = Vec::new();
    for f in Function::ALL {
        let name = f.crate_name();
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e}: build the function binaries first (`cargo build --workspace --bins`)", path.display())
        });
        assert!(contains(&bytes, "8handlers"), "{name}: no symbols to read (stripped binary?)");
        assert!(contains(&bytes, &format!("8handlers{}", segment(name))), "{name} lacks its own handler");
        for other in Function::ALL.iter().filter(|o| *o != f) {
            if contains(&bytes, &format!("8handlers{}", segment(other.crate_name()))) {
                wrong.push(format!("{name} links the {} handler", other.crate_name()));
            }
        }
        for (module, allowed) in RESTRICTED {
            if !allowed.contains(&name) && contains(&bytes, module) {
                wrong.push(format!("{name} links {module}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
