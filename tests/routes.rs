//! One route table: `shared::ROUTES` (served by the Lambdas and the local server) must equal
//! the Api events `template.yaml` deploys, and every function must exist everywhere.

use std::collections::BTreeSet;
use std::path::Path;

use api_tests::{Method, TestApi};
use local_api::template::Template;
use shared::{Function, ROUTES};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn template_events_equal_the_route_table() {
    let template = Template::load(&Template::default_path()).unwrap();
    let deployed: BTreeSet<(String, String, String)> =
        template.api_events().into_iter().map(|e| (e.function, e.method, e.path)).collect();
    let served: BTreeSet<(String, String, String)> =
        ROUTES.iter().map(|r| (r.function.crate_name().to_owned(), r.method.to_owned(), r.path.to_owned())).collect();
    assert_eq!(deployed, served);
}

#[test]
fn every_function_has_a_crate_a_template_resource_and_a_sample_event() {
    let template = Template::load(&Template::default_path()).unwrap();
    let code_uris: BTreeSet<String> = template
        .resources_of_type("AWS::Serverless::Function")
        .map(|(_, f)| f["Properties"]["CodeUri"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = Function::ALL.iter().map(|f| format!("functions/{}", f.crate_name())).collect();
    assert_eq!(code_uris, expected);
    for f in Function::ALL {
        assert!(root().join(format!("functions/{}/Cargo.toml", f.crate_name())).exists(), "{f:?} crate");
        let has_event = std::fs::read_dir(root().join("events")).unwrap().any(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name == format!("{}.json", f.crate_name()) || name.starts_with(&format!("{}-", f.crate_name()))
        });
        assert!(has_event, "{f:?} has no sample event");
    }
}

#[test]
fn every_function_is_an_arm64_al2023_cargo_lambda_build() {
    let template = Template::load(&Template::default_path()).unwrap();
    let globals = &template.root()["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    for (id, f) in template.resources_of_type("AWS::Serverless::Function") {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
    }
}

#[tokio::test]
async fn the_local_server_reaches_a_handler_on_every_deployed_route_with_and_without_slash() {
    // The routes come from template.yaml, not from the table the server itself reads, so a
    // route deployed but not served locally fails here.
    let template = Template::load(&Template::default_path()).unwrap();
    let events = template.api_events();
    assert!(events.len() >= ROUTES.len(), "template lists fewer routes than the server serves");
    let api = TestApi::start().await;
    for event in events {
        let path = event.path.replace("{pk}", "1");
        for p in [format!("{}/", path.trim_end_matches('/')), path.trim_end_matches('/').to_owned()] {
            let method = Method::from_bytes(event.method.to_uppercase().as_bytes()).unwrap();
            let a = api.send_raw(method, &p, Some(b"{}".to_vec()), &[]).await;
            assert_ne!(a.body["error"], "route_not_found", "{} {p}: {} {}", event.method, a.status, a.body);
        }
    }
}
