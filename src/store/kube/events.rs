//! Kubernetes Events for state transitions and launch failures, derived from
//! the status the reconciler writes, so `kubectl describe livybatch batch-7`
//! explains why a batch died without a hook in the reconciler. Best effort:
//! a failed event never fails the write that caused it.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::api::DynamicObject;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::Value;

use super::convert::{api_resource, kind_name};
use crate::records::Kind;

/// Notes are limited to 1 kB by the API server.
const MAX_NOTE: usize = 1000;

pub struct Events {
    recorder: Recorder,
}

/// What a status write means for `kubectl describe`, if anything (pure).
pub fn describe_change(
    before: Option<&Value>,
    after: &Value,
) -> Option<(EventType, String, String)> {
    let state = |s: &Value| s.get("state").and_then(Value::as_str).map(str::to_owned);
    let failures = |s: &Value| s.get("launchFailures").and_then(Value::as_u64).unwrap_or(0);
    let message = after.get("message").and_then(Value::as_str);
    let to = state(after)?;
    let from = before.and_then(state);
    if before.is_some_and(|b| failures(after) > failures(b)) && from.as_deref() == Some(to.as_str())
    {
        let note = message
            .unwrap_or("spark-submit could not be started")
            .to_owned();
        return Some((EventType::Warning, "LaunchFailed".to_owned(), note));
    }
    if from.as_deref() == Some(to.as_str()) {
        return None;
    }
    let warning = matches!(to.as_str(), "dead" | "error");
    let reason: String = to
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let mut note = format!("{} → {to}", from.as_deref().unwrap_or("(new)"));
    if let Some(m) = message.filter(|_| warning) {
        note.push_str(": ");
        note.push_str(m);
    }
    let kind = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    Some((kind, reason, note))
}

impl Events {
    /// `instance`: this replica (its pod name), shown as the event's reporter.
    pub fn new(client: Client, instance: String) -> Self {
        let reporter = Reporter {
            controller: crate::crd::MANAGED_BY.to_owned(),
            instance: Some(instance),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// Publishes the event a status change calls for, if any.
    pub async fn status_written(&self, kind: Kind, obj: &DynamicObject, before: Option<&Value>) {
        let Some(after) = obj.data.get("status") else {
            return;
        };
        let Some((type_, reason, mut note)) = describe_change(before, after) else {
            return;
        };
        if note.len() > MAX_NOTE {
            let cut = (0..=MAX_NOTE)
                .rev()
                .find(|i| note.is_char_boundary(*i))
                .unwrap_or(0);
            note.truncate(cut);
        }
        let ar = api_resource(kind);
        let reference = ObjectReference {
            api_version: Some(ar.api_version),
            kind: Some(kind_name(kind)),
            name: obj.metadata.name.clone(),
            namespace: obj.metadata.namespace.clone(),
            uid: obj.metadata.uid.clone(),
            resource_version: obj.metadata.resource_version.clone(),
            field_path: None,
        };
        let event = Event {
            type_,
            reason,
            note: Some(note),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(kind = kind.as_str(), name = ?obj.metadata.name, error = %e, "failed to record a Kubernetes event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::created(None, json!({"state": "starting"}), Some((EventType::Normal, "Starting", "(new) → starting")))]
    #[case::submitted(Some(json!({"state": "starting"})), json!({"state": "starting", "submission": {"attempt": 1}}), None)]
    #[case::starting(Some(json!({"state": "not_started"})), json!({"state": "starting"}), Some((EventType::Normal, "Starting", "not_started → starting")))]
    #[case::unchanged(Some(json!({"state": "running"})), json!({"state": "running", "appId": "a"}), None)]
    #[case::dead_says_why(Some(json!({"state": "running"})), json!({"state": "dead", "message": "driver pod was deleted"}),
        Some((EventType::Warning, "Dead", "running → dead: driver pod was deleted")))]
    #[case::success(Some(json!({"state": "running"})), json!({"state": "success", "message": "x"}), Some((EventType::Normal, "Success", "running → success")))]
    #[case::launch_failed(Some(json!({"state": "not_started", "launchFailures": 0})), json!({"state": "not_started", "launchFailures": 1, "message": "no spark-submit"}),
        Some((EventType::Warning, "LaunchFailed", "no spark-submit")))]
    #[case::shutting_down(Some(json!({"state": "idle"})), json!({"state": "shutting_down"}), Some((EventType::Normal, "ShuttingDown", "idle → shutting_down")))]
    fn status_changes_become_events(
        #[case] before: Option<Value>,
        #[case] after: Value,
        #[case] want: Option<(EventType, &str, &str)>,
    ) {
        let got = describe_change(before.as_ref(), &after);
        let want = want.map(|(t, r, n)| (t, r.to_owned(), n.to_owned()));
        assert_eq!(got, want);
    }
}
