//! Runbook automation, first part: the declared runbook format, its
//! validation, parameter and target checks, and the plan a run would execute.
//! Nothing here runs a shell: steps are argv arrays with validated values
//! substituted one argument at a time. Running them: `executor` (the plan),
//! `process` (one step's process and its output), `containment` (every process
//! a step starts, killed when it ends), `secrets` (redaction as output streams), `step` (what both kinds of step share).

mod catalog;
mod containment;
mod destination;
mod executor;
mod http;
mod matching;
mod params;
mod plan;
mod process;
mod secrets;
pub mod settings;
mod spec;
mod step;
pub use settings::RunbookSettings;

pub use crate::inventory::{ConfigurationItem, Inventory, TargetError};
pub use catalog::{
    Catalog, INVENTORY_FILE, Problem, TARGET_PARAMETER, check_runbook, fill, placeholders,
    validate_run_params,
};
pub use containment::{
    EXECUTION_ENV, STEP_ENV, become_subreaper, kill_leftovers, leftover_process_groups,
};
pub use executor::{RunStatus, StepResult, run_checks, run_plan, run_step};
pub use matching::{RunbookMatch, TicketView, match_runbook};
pub use params::{MAX_VALUE_CHARS, ParamError, parse_duration, validate_params, whole_value_regex};
pub use plan::{Plan, PlanError, PlannedHttp, PlannedStep, plan};
pub use secrets::{REDACTED, Redactor};
pub use spec::{
    ApprovalMode, ApprovalSpec, ConcurrencySpec, FreezePolicy, HttpStepSpec, MatchSpec,
    ParameterSpec, ParameterType, Risk, RunbookSpec, StepSpec, TargetSpec,
};
pub use step::{OUTPUT_LIMIT_BYTES, StepStatus, StopReason, StopSignal};
