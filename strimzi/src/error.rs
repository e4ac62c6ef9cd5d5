//! The one error type of this crate. Every message names what failed (verb, resource,
//! namespace) and what to do; none carries a token, a kubeconfig's content, or a response body
//! beyond the API server's own `Status.message`.

use std::fmt;

/// A Kubernetes API verb, as RBAC spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Patch,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Patch => "patch",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Bad options, no kubeconfig, no in-cluster service account.
    #[error("{0}")]
    Config(String),

    /// 401: the credentials were refused.
    #[error("Kubernetes API at {server}: 401 Unauthorized: the credentials (service-account token or kubeconfig user) were refused. Fix: check that the agent's service account exists and its token is mounted (automountServiceAccountToken: true), or renew the kubeconfig credentials")]
    Unauthorized { server: String },

    /// 403.
    #[error("{}", forbidden_text(.verb, .resource, .namespace, .user.as_deref()))]
    Forbidden {
        verb: Verb,
        /// `kafkaconnectors.kafka.strimzi.io`
        resource: String,
        namespace: String,
        /// The user the API server named (`system:serviceaccount:NS:NAME`), if it did.
        user: Option<String>,
    },

    /// 404 on one object.
    #[error("Kubernetes API: 404: {resource} {name:?} not found in namespace {namespace:?} (deleted meanwhile?)")]
    NotFound {
        resource: String,
        name: String,
        namespace: String,
    },

    /// The Strimzi custom resource definitions are missing, or serve neither v1 nor v1beta2.
    #[error("Kubernetes API at {server}: {detail}. Fix: install Strimzi 0.38 or later (its CRDs), or run without --strimzi-cluster")]
    NotInstalled { server: String, detail: String },

    /// 409 after the bounded re-read-and-retry.
    #[error("Kubernetes API: 409 Conflict: {resource} {name:?} in namespace {namespace:?} kept changing under {attempts} attempts to {verb} it (re-read each time); nothing was overwritten, the next poll decides again")]
    Conflict {
        verb: Verb,
        resource: String,
        name: String,
        namespace: String,
        attempts: u32,
    },

    /// No HTTP answer: refused, reset, TLS failure, DNS, timeout.
    #[error("Kubernetes API at {server} unreachable ({detail}): no action is taken on Strimzi-managed connectors until it answers")]
    Unreachable { server: String, detail: String },

    /// 5xx, 429 and other answers that say "not now".
    #[error("Kubernetes API: {code} {reason} on {verb} {resource} in namespace {namespace:?}: {message}")]
    Server {
        verb: Verb,
        code: u16,
        reason: String,
        resource: String,
        namespace: String,
        message: String,
    },

    /// 400/422: the API server rejected the request itself (schema, bad patch).
    #[error("Kubernetes API: {code} {reason}: {verb} {resource} {name:?} in namespace {namespace:?} rejected: {message}")]
    Rejected {
        verb: Verb,
        code: u16,
        reason: String,
        resource: String,
        name: String,
        namespace: String,
        message: String,
    },

    /// The CRD has no `spec.state` (Strimzi before 0.38).
    #[error("{resource} {name:?} in namespace {namespace:?}: {detail}. Fix: upgrade Strimzi to 0.38 or later (spec.state), or exclude the connector from the agent")]
    Unsupported {
        resource: String,
        name: String,
        namespace: String,
        detail: String,
    },

    /// An answer that is not what the API documents.
    #[error("Kubernetes API: unexpected answer to {verb} {resource} in namespace {namespace:?}: {detail}")]
    Malformed {
        verb: Verb,
        resource: String,
        namespace: String,
        detail: String,
    },

    /// More resources than the agent will hold in memory.
    #[error("Kubernetes API: more than {max} {resource} labelled strimzi.io/cluster={cluster} in namespace {namespace:?}; the agent will not act on so many")]
    TooMany {
        resource: String,
        namespace: String,
        cluster: String,
        max: usize,
    },
}

fn forbidden_text(verb: &Verb, resource: &str, namespace: &str, user: Option<&str>) -> String {
    let who = user.map(|u| format!(" as {u}")).unwrap_or_default();
    let check = match user {
        Some(u) => format!(
            "kubectl auth can-i {verb} {resource} -n {} --as {}",
            crate::shell_quote(namespace),
            crate::shell_quote(u)
        ),
        None => format!(
            "kubectl auth can-i {verb} {resource} -n {}",
            crate::shell_quote(namespace)
        ),
    };
    format!(
        "Kubernetes API: 403 Forbidden: cannot {verb} {resource} in namespace {namespace:?}{who}. \
         Fix: grant the agent's service account get, list and patch on {resource} in namespace \
         {namespace:?} (a Role and RoleBinding: deploy/kubernetes/strimzi/rbac.yaml); check with: {check}"
    )
}

impl Error {
    /// A short stable label for metrics (`kind` of `cdc_sentinel_kubernetes_request_errors_total`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::NotInstalled { .. } => "not_installed",
            Error::Conflict { .. } => "conflict",
            Error::Unreachable { .. } => "unreachable",
            Error::Server { .. } => "server_error",
            Error::Rejected { .. } => "rejected",
            Error::Unsupported { .. } => "unsupported",
            Error::Malformed { .. } => "malformed",
            Error::TooMany { .. } => "too_many",
        }
    }

    /// Errors that will not go away by waiting: the agent should say so loudly (and may exit at
    /// startup), rather than retry quietly each poll.
    pub fn needs_fix(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::Unauthorized { .. }
                | Error::Forbidden { .. }
                | Error::NotInstalled { .. }
                | Error::Unsupported { .. }
        )
    }
}
