//! STUB
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BetaSchedule {
    Constant { value: f64 },
}
impl BetaSchedule {
    pub fn value(&self, it: u64) -> f64 {
        match self {
            BetaSchedule::Constant { value } => *value,
        }
    }
    pub fn validate(&self) -> crate::Result<()> {
        Ok(())
    }
}
