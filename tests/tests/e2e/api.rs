//! The JSON API as a whole: its OpenAPI document. Each endpoint's behaviour is tested with
//! its flow.

use testkit::Backend;

use crate::{Deployment, http};

/// The document does not depend on the database: SQLite only.
#[test]
fn the_server_publishes_an_openapi_document_of_its_json_api_to_anyone() {
    let d = Deployment::new(Backend::Sqlite);
    d.ca(&["init"]).ok();
    let _server = d.serve();
    let response = http().get(d.url("/api/v1/openapi.json")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Chengxin JSON API");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");

    let authenticated: &[(&str, &[&str])] = &[
        ("/api/v1/applications", &["post"]),
        ("/api/v1/applications/{id}", &["get"]),
        ("/api/v1/applications/{id}/verify", &["post"]),
        ("/api/v1/applications/{id}/approve", &["post"]),
        ("/api/v1/applications/{id}/reject", &["post"]),
        ("/api/v1/sites/{site}", &["get"]),
        ("/api/v1/sites/{site}/revoke", &["post"]),
        ("/api/v1/sites/{site}/recheck", &["post"]),
        ("/api/v1/me", &["get"]),
    ];
    let public: &[(&str, &[&str])] = &[
        ("/api/v1/sites", &["get"]),
        ("/api/v1/check", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/cert/{site}.json", &["get"]),
    ];
    for (paths, wants_token) in [(authenticated, true), (public, false)] {
        for (path, methods) in paths {
            let item = doc["paths"][path]
                .as_object()
                .unwrap_or_else(|| panic!("{path} is not in the document"));
            let listed: Vec<&str> = item.keys().map(String::as_str).collect();
            assert_eq!(&listed, methods, "{path}");
            for method in *methods {
                let op = &item[*method];
                assert_eq!(
                    op["security"] == serde_json::json!([{"bearer": []}]),
                    wants_token,
                    "{method} {path}: {}",
                    op["security"]
                );
                assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object());
            }
        }
    }
    let apply = &doc["paths"]["/api/v1/applications"]["post"];
    assert_eq!(
        apply["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApplyBody"
    );
    assert_eq!(
        apply["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/InvalidFields"
    );
}
