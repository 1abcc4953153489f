//! `GET /openapi.json`: every endpoint and its schemas, generated from the code.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn openapi_describes_every_endpoint_and_schema() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/triage", "post"),
        ("/v1/incidents", "post"),
        ("/v1/incidents/batch", "post"),
        ("/v1/admin/connectors/{name}/import", "post"),
        ("/v1/admin/connectors/{name}/import", "get"),
        ("/v1/incidents/{id}", "get"),
        ("/v1/tickets/{id}/feedback", "post"),
        ("/v1/tickets/{id}/draft", "post"),
        ("/v1/tickets/{id}/draft", "get"),
        ("/v1/tickets/{id}/draft/review", "post"),
        ("/v1/drafts/stats", "get"),
        ("/v1/stats", "get"),
        ("/v1/admin/retrain", "post"),
        ("/v1/admin/forget", "post"),
        ("/v1/admin/retention", "post"),
        ("/v1/executions", "post"),
        ("/v1/executions", "get"),
        ("/v1/executions/{id}", "get"),
        ("/v1/executions/{id}/approve", "post"),
        ("/v1/executions/{id}/reject", "post"),
        ("/v1/executions/{id}/cancel", "post"),
        ("/v1/executions/{id}/audit", "get"),
        ("/v1/hooks/{connector}", "post"),
        ("/v1/connectors/{name}/jobs", "get"),
        ("/v1/connectors/{name}/jobs/{id}/requeue", "post"),
        ("/v1/review", "get"),
        ("/v1/review/{id}", "get"),
        ("/v1/insights", "get"),
        ("/v1/runbooks", "get"),
        ("/v1/runbooks/{id}/plan", "post"),
        ("/v1/audit/verify", "get"),
        ("/v1/changes", "get"),
        ("/v1/problems", "get"),
        ("/v1/admin/problems", "post"),
        ("/v1/storms", "get"),
        ("/v1/storms/{id}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(paths.len(), 37, "an endpoint the test does not know");

    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "NewTicket",
        "Triage",
        "FieldSuggestion",
        "Execution",
        "ExecutionRequest",
        "ChangeList",
        "ProblemReport",
        "AuditEntry",
        "LabelFeedback",
        "ServiceStats",
        "ErrorBody",
        "Draft",
        "ReviewRequest",
        "ReviewItem",
        "Insights",
        "PlanPreview",
        "Storm",
        "StormRef",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Every `$ref` points at a schema that exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    let triage = &paths["/v1/triage"]["post"];
    assert!(triage["responses"]["200"].is_object());
    assert!(triage["responses"]["503"].is_object());
    let create = &paths["/v1/executions"]["post"];
    assert_eq!(create["security"][0]["bearer"], serde_json::json!([]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every request body documents what the extractor and body limit answer.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let Some(body) = operation.get("requestBody") else {
                continue;
            };
            let responses = operation["responses"].as_object().unwrap();
            let mut expected = vec!["413", "422"];
            if body["required"] == true {
                expected.extend(["400", "415"]);
            }
            for status in expected {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    let state = &paths["/v1/executions"]["get"]["parameters"][0];
    assert_eq!(
        state["schema"]["$ref"],
        "#/components/schemas/ExecutionState"
    );
    // A ticket needs a title or a description: stated as an anyOf of `required`.
    let required: Vec<&Value> = schemas["NewTicket"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alternative| &alternative["required"][0])
        .collect();
    assert_eq!(required, ["title", "description"]);
    // The triage response schema names the fields a client reads.
    let triage_schema = &schemas["Triage"]["properties"];
    for field in ["suggestions", "route", "similar_incidents", "runbooks"] {
        assert!(triage_schema.get(field).is_some(), "Triage.{field}");
    }
}
