//! The closed value sets of the language (APIs, clouds, machine actions, incident fields,
//! output formats, …), each with its playbook spelling and its spelling in every API that
//! takes it. Parsing is lenient about case and separators — `in_progress`, `inProgress` and
//! `InProgress` are one value — because users copy values from both the Graph docs
//! (camelCase) and the Defender docs (PascalCase).

use std::fmt;

/// Normalise for lenient comparison: lowercase, without `_`, `-` and spaces.
#[must_use]
pub fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A closed set of playbook values.
pub trait Choice: Sized + Copy + 'static {
    /// What the set is called in messages ("machine action", "cloud", …).
    const WHAT: &'static str;
    /// Every value, in documentation order.
    const ALL: &'static [Self];
    /// The canonical playbook spelling.
    fn name(self) -> &'static str;
    /// Other accepted spellings (compared after [`normalise`]).
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }

    /// Parse leniently (case, `_`/`-`, aliases).
    fn parse(s: &str) -> Option<Self> {
        let n = normalise(s);
        Self::ALL
            .iter()
            .copied()
            .find(|v| normalise(v.name()) == n || v.aliases().iter().any(|a| normalise(a) == n))
    }

    /// Every canonical spelling.
    #[must_use]
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.name()).collect()
    }
}

macro_rules! choice {
    (
        $(#[$doc:meta])*
        $name:ident, $what:literal {
            $( $(#[$vdoc:meta])* $variant:ident = $text:literal $([$($alias:literal),*])? ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
        }

        impl Choice for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$($name::$variant),*];
            fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
            fn aliases(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($($alias),*)?],)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

choice! {
    /// Which Microsoft API a step talks to.
    Api, "api" {
        /// Microsoft Graph security API (`graph.microsoft.com`).
        Graph = "graph",
        /// Defender XDR API (`api.security.microsoft.com/api/…`).
        Defender = "defender",
        /// Defender for Endpoint API (machines, machine actions).
        Endpoint = "endpoint" ["mde"],
    }
}

choice! {
    /// The national cloud: picks login and API hosts.
    Cloud, "cloud" {
        Commercial = "commercial" ["public", "global"],
        Gcc = "gcc",
        GccHigh = "gcc_high",
        Dod = "dod",
    }
}

choice! {
    /// Who the token represents.
    AuthContext, "authentication context" {
        /// The application itself (client credentials): daemons and cron.
        Application = "application" ["app"],
        /// A signed-in user (delegated permissions).
        User = "user" ["delegated"],
    }
}

choice! {
    /// How a user signs in.
    AuthFlow, "sign-in flow" {
        DeviceCode = "device_code",
        Password = "password" ["ropc"],
    }
}

choice! {
    /// What a step does when it fails.
    OnError, "on_error value" {
        Fail = "fail",
        Continue = "continue",
    }
}

choice! {
    /// Defender for Endpoint machine actions.
    ActionType, "machine action" {
        Isolate = "isolate",
        Unisolate = "unisolate" ["release_isolation"],
        RunAvScan = "run_av_scan" ["run_antivirus_scan", "runAntiVirusScan", "av_scan", "scan"],
        CollectInvestigationPackage = "collect_investigation_package",
        RestrictCodeExecution = "restrict_code_execution",
        UnrestrictCodeExecution = "unrestrict_code_execution",
    }
}

impl ActionType {
    /// The MDE path segment: `POST /api/machines/{id}/<segment>`.
    #[must_use]
    pub fn mde_path(self) -> &'static str {
        match self {
            ActionType::Isolate => "isolate",
            ActionType::Unisolate => "unisolate",
            ActionType::RunAvScan => "runAntiVirusScan",
            ActionType::CollectInvestigationPackage => "collectInvestigationPackage",
            ActionType::RestrictCodeExecution => "restrictCodeExecution",
            ActionType::UnrestrictCodeExecution => "unrestrictCodeExecution",
        }
    }

    /// The MDE `MachineAction.type` this action creates.
    #[must_use]
    pub fn mde_type(self) -> &'static str {
        match self {
            ActionType::Isolate => "Isolate",
            ActionType::Unisolate => "Unisolate",
            ActionType::RunAvScan => "RunAntiVirusScan",
            ActionType::CollectInvestigationPackage => "CollectInvestigationPackage",
            ActionType::RestrictCodeExecution => "RestrictCodeExecution",
            ActionType::UnrestrictCodeExecution => "UnrestrictCodeExecution",
        }
    }

    /// The application role (and delegated scope: MDE uses the same name) it needs.
    #[must_use]
    pub fn permission(self) -> &'static str {
        match self {
            ActionType::Isolate | ActionType::Unisolate => "Machine.Isolate",
            ActionType::RunAvScan => "Machine.Scan",
            ActionType::CollectInvestigationPackage => "Machine.CollectForensics",
            ActionType::RestrictCodeExecution | ActionType::UnrestrictCodeExecution => {
                "Machine.RestrictExecution"
            }
        }
    }
}

choice! {
    /// `isolation_type` of `isolate`.
    IsolationType, "isolation type" {
        Full = "full",
        Selective = "selective",
    }
}

impl IsolationType {
    /// The MDE `IsolationType` body value.
    #[must_use]
    pub fn mde(self) -> &'static str {
        match self {
            IsolationType::Full => "Full",
            IsolationType::Selective => "Selective",
        }
    }
}

choice! {
    /// `scan_type` of `run_av_scan`.
    ScanType, "scan type" {
        Quick = "quick",
        Full = "full",
    }
}

impl ScanType {
    /// The MDE `ScanType` body value.
    #[must_use]
    pub fn mde(self) -> &'static str {
        match self {
            ScanType::Quick => "Quick",
            ScanType::Full => "Full",
        }
    }
}

choice! {
    /// Incident status (Graph `status`, Defender `status`).
    IncidentStatus, "incident status" {
        Active = "active" ["new"],
        InProgress = "in_progress",
        Resolved = "resolved",
        Redirected = "redirected",
        /// Graph only; only Microsoft Defender Experts can set it.
        AwaitingAction = "awaiting_action",
    }
}

impl IncidentStatus {
    /// Graph's camelCase spelling.
    #[must_use]
    pub fn graph(self) -> &'static str {
        match self {
            IncidentStatus::Active => "active",
            IncidentStatus::InProgress => "inProgress",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Redirected => "redirected",
            IncidentStatus::AwaitingAction => "awaitingAction",
        }
    }

    /// The Defender XDR API's PascalCase spelling (`None`: not in that API).
    #[must_use]
    pub fn defender(self) -> Option<&'static str> {
        match self {
            IncidentStatus::Active => Some("Active"),
            IncidentStatus::InProgress => Some("InProgress"),
            IncidentStatus::Resolved => Some("Resolved"),
            IncidentStatus::Redirected => Some("Redirected"),
            IncidentStatus::AwaitingAction => None,
        }
    }
}

choice! {
    /// Incident severity.
    IncidentSeverity, "incident severity" {
        Informational = "informational",
        Low = "low",
        Medium = "medium",
        High = "high",
        Unknown = "unknown" ["unspecified"],
    }
}

impl IncidentSeverity {
    /// Graph's spelling.
    #[must_use]
    pub fn graph(self) -> &'static str {
        self.name()
    }

    /// The Defender XDR API's spelling.
    #[must_use]
    pub fn defender(self) -> &'static str {
        match self {
            IncidentSeverity::Informational => "Informational",
            IncidentSeverity::Low => "Low",
            IncidentSeverity::Medium => "Medium",
            IncidentSeverity::High => "High",
            IncidentSeverity::Unknown => "UnSpecified",
        }
    }
}

choice! {
    /// Incident classification (settable values).
    Classification, "classification" {
        TruePositive = "true_positive",
        FalsePositive = "false_positive",
        InformationalExpectedActivity = "informational_expected_activity" ["benign_positive"],
    }
}

impl Classification {
    /// Graph's camelCase spelling.
    #[must_use]
    pub fn graph(self) -> &'static str {
        match self {
            Classification::TruePositive => "truePositive",
            Classification::FalsePositive => "falsePositive",
            Classification::InformationalExpectedActivity => "informationalExpectedActivity",
        }
    }

    /// The Defender XDR API's spelling.
    #[must_use]
    pub fn defender(self) -> &'static str {
        match self {
            Classification::TruePositive => "TruePositive",
            Classification::FalsePositive => "FalsePositive",
            Classification::InformationalExpectedActivity => "InformationalExpectedActivity",
        }
    }
}

choice! {
    /// Incident determination (settable values; the Graph service metadata is canonical, the
    /// alias spellings of other doc versions are accepted).
    Determination, "determination" {
        MultiStagedAttack = "multi_staged_attack",
        MaliciousUserActivity = "malicious_user_activity",
        CompromisedAccount = "compromised_account" ["compromised_user"],
        Malware = "malware",
        Phishing = "phishing",
        UnwantedSoftware = "unwanted_software",
        SecurityTesting = "security_testing",
        LineOfBusinessApplication = "line_of_business_application",
        ConfirmedActivity = "confirmed_activity" ["confirmed_user_activity"],
        NotMalicious = "not_malicious" ["clean"],
        NotEnoughDataToValidate = "not_enough_data_to_validate" ["insufficient_data", "no_enough_data_to_validate"],
        Other = "other",
    }
}

impl Determination {
    /// Graph's camelCase spelling.
    #[must_use]
    pub fn graph(self) -> &'static str {
        match self {
            Determination::MultiStagedAttack => "multiStagedAttack",
            Determination::MaliciousUserActivity => "maliciousUserActivity",
            Determination::CompromisedAccount => "compromisedAccount",
            Determination::Malware => "malware",
            Determination::Phishing => "phishing",
            Determination::UnwantedSoftware => "unwantedSoftware",
            Determination::SecurityTesting => "securityTesting",
            Determination::LineOfBusinessApplication => "lineOfBusinessApplication",
            Determination::ConfirmedActivity => "confirmedActivity",
            Determination::NotMalicious => "notMalicious",
            Determination::NotEnoughDataToValidate => "notEnoughDataToValidate",
            Determination::Other => "other",
        }
    }

    /// The Defender XDR API's request spelling (`api-update-incidents`).
    #[must_use]
    pub fn defender(self) -> &'static str {
        match self {
            Determination::MultiStagedAttack => "MultiStagedAttack",
            Determination::MaliciousUserActivity => "MaliciousUserActivity",
            Determination::CompromisedAccount => "CompromisedAccount",
            Determination::Malware => "Malware",
            Determination::Phishing => "Phishing",
            Determination::UnwantedSoftware => "UnwantedSoftware",
            Determination::SecurityTesting => "SecurityTesting",
            Determination::LineOfBusinessApplication => "LineOfBusinessApplication",
            Determination::ConfirmedActivity => "ConfirmedActivity",
            Determination::NotMalicious => "Clean",
            Determination::NotEnoughDataToValidate => "NoEnoughDataToValidate",
            Determination::Other => "Other",
        }
    }

    /// The classification this determination belongs to (`None`: any, for `other`).
    #[must_use]
    pub fn classification(self) -> Option<Classification> {
        match self {
            Determination::MultiStagedAttack
            | Determination::MaliciousUserActivity
            | Determination::CompromisedAccount
            | Determination::Malware
            | Determination::Phishing
            | Determination::UnwantedSoftware => Some(Classification::TruePositive),
            Determination::SecurityTesting
            | Determination::LineOfBusinessApplication
            | Determination::ConfirmedActivity => {
                Some(Classification::InformationalExpectedActivity)
            }
            Determination::NotMalicious | Determination::NotEnoughDataToValidate => {
                Some(Classification::FalsePositive)
            }
            Determination::Other => None,
        }
    }
}

choice! {
    /// What an `output` step writes.
    OutputFormat, "output format" {
        Json = "json",
        Jsonl = "jsonl" ["ndjson"],
        Csv = "csv",
        Markdown = "markdown" ["md"],
        Text = "text" ["txt"],
    }
}

impl OutputFormat {
    /// Whether the format serialises `data` (as opposed to rendering a template).
    #[must_use]
    pub fn takes_data(self) -> bool {
        matches!(
            self,
            OutputFormat::Json | OutputFormat::Jsonl | OutputFormat::Csv
        )
    }

    /// The format a file extension implies.
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<OutputFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "json" => Some(OutputFormat::Json),
            "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
            "csv" => Some(OutputFormat::Csv),
            "md" | "markdown" => Some(OutputFormat::Markdown),
            "txt" | "text" | "log" => Some(OutputFormat::Text),
            _ => None,
        }
    }
}

choice! {
    /// HTTP method of a `request` step.
    Method, "HTTP method" {
        Get = "GET",
        Post = "POST",
        Put = "PUT",
        Patch = "PATCH",
        Delete = "DELETE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_lenient_about_case_and_separators() {
        assert_eq!(
            IncidentStatus::parse("inProgress"),
            Some(IncidentStatus::InProgress)
        );
        assert_eq!(
            IncidentStatus::parse("InProgress"),
            Some(IncidentStatus::InProgress)
        );
        assert_eq!(
            IncidentStatus::parse("in_progress"),
            Some(IncidentStatus::InProgress)
        );
        assert_eq!(
            Classification::parse("TruePositive"),
            Some(Classification::TruePositive)
        );
        assert_eq!(
            Determination::parse("Clean"),
            Some(Determination::NotMalicious)
        );
        assert_eq!(
            Determination::parse("CompromisedUser"),
            Some(Determination::CompromisedAccount)
        );
        assert_eq!(Cloud::parse("GCC-High"), Some(Cloud::GccHigh));
        assert_eq!(Method::parse("post"), Some(Method::Post));
        assert_eq!(ActionType::parse("isolat"), None);
    }

    #[test]
    fn api_spellings_follow_each_api() {
        assert_eq!(IncidentStatus::InProgress.graph(), "inProgress");
        assert_eq!(IncidentStatus::InProgress.defender(), Some("InProgress"));
        assert_eq!(IncidentStatus::AwaitingAction.defender(), None);
        assert_eq!(Determination::NotMalicious.defender(), "Clean");
        assert_eq!(
            Determination::NotEnoughDataToValidate.defender(),
            "NoEnoughDataToValidate"
        );
        assert_eq!(IsolationType::Selective.mde(), "Selective");
        assert_eq!(ActionType::RunAvScan.mde_path(), "runAntiVirusScan");
        assert_eq!(IncidentSeverity::Unknown.defender(), "UnSpecified");
    }

    #[test]
    fn every_determination_but_other_belongs_to_a_classification() {
        for d in Determination::ALL {
            assert_eq!(d.classification().is_none(), *d == Determination::Other);
        }
    }
}
