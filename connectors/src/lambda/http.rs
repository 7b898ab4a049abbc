//! HTTP: API Gateway (REST API payload 1.0, HTTP API payload 2.0), Lambda function URLs and
//! ALB targets. The request body is the input and the reply's body is the pipeline's output.
//!
//! A body that is a JSON array gives one message per element; any other JSON value is one
//! message; anything else is split into lines (newline-delimited JSON, log lines). Every
//! message carries `@meta.http` (method, path, source IP, request id). The reply is JSON:
//! `{"output": [...], "errors": [{"reason", "transform", "data"}]}`, with status 200, or 422
//! when a message ended on the error route, or 400 when the body cannot be read.

use super::{Function, LambdaError, mark};
use base64::Engine as _;
use serde_json::{Value, json};
use sluice_core::Message;
use sluice_core::testing::output_value;

/// Serves an HTTP request event; the reply is a proxy response (`statusCode`, `headers`, `body`).
pub async fn handle(f: &Function, event: Value) -> Result<Value, LambdaError> {
    if !event.is_object() {
        return Err(LambdaError::BadEvent {
            expected: "an HTTP request event",
            reason: "expected an object with `body` and `requestContext`".into(),
        });
    }
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let meta = json!({
        "method": text("/requestContext/http/method").or(text("/httpMethod")),
        "path": text("/rawPath").or(text("/path")),
        "source_ip": text("/requestContext/http/sourceIp").or(text("/requestContext/identity/sourceIp")),
        "request_id": text("/requestContext/requestId"),
    });
    let body = match read_body(&event) {
        Ok(body) => body,
        Err(reason) => {
            f.count(1, 1);
            return Ok(reply(
                400,
                &json!({"output": [], "errors": [{"reason": reason}]}),
            ));
        }
    };
    let mut messages = split(&body);
    for m in &mut messages {
        m.meta_mut().insert("http".into(), meta.clone());
        mark(m, 0);
    }
    let outcome = f.run(messages).await?;
    let errors: Vec<Value> = outcome
        .errors
        .iter()
        .map(|m| {
            let e = &m.meta()["error"];
            json!({"reason": e["reason"], "transform": e["transform"], "data": output_value(m)})
        })
        .collect();
    f.count(1, usize::from(!errors.is_empty()));
    let status = if errors.is_empty() { 200 } else { 422 };
    let output: Vec<Value> = outcome.output.iter().map(output_value).collect();
    Ok(reply(status, &json!({"output": output, "errors": errors})))
}

fn read_body(event: &Value) -> Result<Vec<u8>, String> {
    let body = match event.get("body") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s,
        Some(other) => return Ok(other.to_string().into_bytes()),
    };
    if event.get("isBase64Encoded") == Some(&Value::Bool(true)) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("the body is marked base64 but is not: {e}"))
    } else {
        Ok(body.clone().into_bytes())
    }
}

/// A JSON array is one message per element, another JSON value one message, else one per line.
fn split(body: &[u8]) -> Vec<Message> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.into_iter().map(Message::from_value).collect(),
        Ok(value) => vec![Message::from_value(value)],
        Err(_) => body
            .split(|b| *b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(|line| Message::new(line.to_vec()))
            .collect(),
    }
}

fn reply(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_by_shape() {
        let texts = |body: &str| {
            split(body.as_bytes())
                .iter()
                .map(|m| String::from_utf8(m.bytes().to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(r#"[{"a":1},2]"#), vec![r#"{"a":1}"#, "2"]);
        assert_eq!(texts(r#"{"a":1}"#), vec![r#"{"a":1}"#]);
        assert_eq!(texts("x=1\r\n\ny=2\n"), vec!["x=1", "y=2"]);
        assert_eq!(texts(""), Vec::<String>::new());
        // A JSON string is a message whose data is that text.
        assert_eq!(texts("\"é\""), vec!["é"]);
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let event = json!({"body": "eyJhIjoxfQ==", "isBase64Encoded": true});
        assert_eq!(read_body(&event).unwrap(), br#"{"a":1}"#);
        let bad = json!({"body": "%%%", "isBase64Encoded": true});
        assert!(read_body(&bad).unwrap_err().contains("base64"));
        assert_eq!(read_body(&json!({"body": null})).unwrap(), b"");
    }
}
