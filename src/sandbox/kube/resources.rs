//! The resource types the fake serves: one table drives storage, routing and discovery.

/// A subresource as discovery describes it.
pub(crate) struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    /// `Some((group, version))` when the subresource speaks another group's type (`Scale`).
    pub group_version: Option<(&'static str, &'static str)>,
    pub verbs: &'static [&'static str],
}

/// One served resource type.
pub(crate) struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Whether the real server keeps `metadata.generation` for it (spec changes bump it).
    pub generation: bool,
}

impl ResourceInfo {
    /// `deployments.apps`, or `pods` in the core group: how the API server names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    /// Whether writes to the main resource leave `status` alone (it has a `status` subresource).
    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }

    /// Whether a PUT of a missing name creates it (the registry strategy's `AllowCreateOnUpdate`):
    /// of the types served, only Leases; the rest answer 404.
    pub fn allows_create_on_update(&self) -> bool {
        self.is_lease()
    }

    /// Whether a PUT without `metadata.resourceVersion` overwrites whatever is stored (the strategy's
    /// `AllowUnconditionalUpdate`): every type served but Leases, which answer 422.
    pub fn allows_unconditional_update(&self) -> bool {
        !self.is_lease()
    }

    fn is_lease(&self) -> bool {
        self.group == "coordination.k8s.io" && self.plural == "leases"
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CLUSTER_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

const fn status(kind: &'static str) -> Subresource {
    Subresource {
        name: "status",
        kind,
        group_version: None,
        verbs: SUB_VERBS,
    }
}

const fn scale() -> Subresource {
    Subresource {
        name: "scale",
        kind: "Scale",
        group_version: Some(("autoscaling", "v1")),
        verbs: SUB_VERBS,
    }
}

#[allow(clippy::too_many_arguments)]
const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
    generation: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
        subresources,
        generation,
    }
}

pub(crate) static RESOURCES: &[ResourceInfo] = &[
    res(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
        &[],
        false,
    ),
    res(
        "",
        "v1",
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        &[],
        &[],
        false,
    ),
    res("", "v1", "events", "event", "Event", true, &["ev"], &[], &[], false),
    res(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &[],
        &[status("Namespace")],
        false,
    ),
    res(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &[],
        &[status("PersistentVolumeClaim")],
        false,
    ),
    res(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["all"],
        &[
            Subresource {
                name: "portforward",
                kind: "PodPortForwardOptions",
                group_version: None,
                verbs: &["create", "get"],
            },
            status("Pod"),
        ],
        false,
    ),
    res(
        "",
        "v1",
        "resourcequotas",
        "resourcequota",
        "ResourceQuota",
        true,
        &["quota"],
        &[],
        &[status("ResourceQuota")],
        false,
    ),
    res("", "v1", "secrets", "secret", "Secret", true, &[], &[], &[], false),
    res(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        &[],
        false,
    ),
    res(
        "",
        "v1",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["all"],
        &[status("Service")],
        false,
    ),
    res(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["all"],
        &[scale(), status("Deployment")],
        true,
    ),
    res(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["all"],
        &[scale(), status("ReplicaSet")],
        true,
    ),
    res(
        "apps",
        "v1",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        &["all"],
        &[scale(), status("StatefulSet")],
        true,
    ),
    res(
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        &["all"],
        &[status("HorizontalPodAutoscaler")],
        false,
    ),
    res(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
        &[],
        false,
    ),
    res(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "ingress",
        "Ingress",
        true,
        &["ing"],
        &[],
        &[status("Ingress")],
        true,
    ),
    res(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &[],
        &[status("PodDisruptionBudget")],
        true,
    ),
];

/// The API groups, in the order `/apis` lists them (the core group is served at `/api`).
pub(crate) const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("autoscaling", "v1"),
    ("coordination.k8s.io", "v1"),
    ("networking.k8s.io", "v1"),
    ("policy", "v1"),
];

pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub(crate) fn group_version_served(group: &str, version: &str) -> bool {
    (group.is_empty() && version == "v1") || GROUPS.contains(&(group, version))
}

pub(crate) fn verbs(info: &ResourceInfo) -> &'static [&'static str] {
    if info.namespaced { ALL_VERBS } else { CLUSTER_VERBS }
}
