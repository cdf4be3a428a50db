//! The code engine's side of a slot change: which engine the change ends in, and the copy of
//! the probe that holds the models of the state before and after it, put in before the slots
//! change (docs/MODEL_ENGINE.md, "The model as code").

use shared::model::Model;

use super::{ProbeModels, Slots};
use crate::error::{err, Result};

/// The engine a slot change ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineIntent {
    /// The engine as it is (the code engine follows the change when it is on).
    #[default]
    Keep,
    /// A new model with no engine named (`deploy MODEL`, the TUI's `d`): compiled code unless
    /// the user chose the table before; if the code cannot be made while the engine is off,
    /// the table scores the models and `take_code_warning` says why.
    Default,
    /// The engine the user named (`deploy --engine`).
    Set(crate::code::Engine),
}

impl ProbeModels {
    /// The engine the next slot changes end in (the default: the engine as it is).
    pub fn set_intent(&self, intent: EngineIntent) {
        if let Ok(mut i) = self.intent.lock() {
            *i = intent;
        }
    }

    /// The slots' models when a slot change has code to make (else none: the table engine
    /// stays and a swap reads nothing more than it changes).
    pub(super) fn code_slots(&self) -> Result<Slots> {
        let keep = self.intent.lock().map(|i| *i).unwrap_or_default() == EngineIntent::Keep;
        if keep && !crate::code::in_use(&self.dir) {
            return Ok([None, None, None]);
        }
        self.slots()
    }

    /// Scores the slots' models by compiled code or by the table interpreter from now on (a
    /// table choice is remembered: see [`EngineIntent::Default`]).
    pub fn set_engine(&self, engine: crate::code::Engine) -> Result<crate::code::CodeReport> {
        let _turn = self.turn();
        match engine {
            crate::code::Engine::Code => self.compile_slots(),
            crate::code::Engine::Table => crate::code::remove(&self.dir, true),
        }
    }

    /// Why the last slot change could not turn the code engine on (the table scores the
    /// models), if it could not.
    pub fn take_code_warning(&self) -> Option<String> {
        self.code_warning.lock().ok().and_then(|mut w| w.take())
    }

    /// The code engine for the slots as they are: a new copy holding the active and previous
    /// models and the shadow one, unless the copy in place holds them already.
    fn compile_slots(&self) -> Result<crate::code::CodeReport> {
        let now = self.slots()?;
        let [a, s, p] = now.each_ref().map(Option::as_deref);
        let active: Vec<&Model> = [a, p].into_iter().flatten().collect();
        let shadow: Vec<&Model> = s.into_iter().collect();
        if crate::code::holds(&self.dir, &active, &shadow) {
            return Ok(crate::code::status(&self.dir).for_slots(a, s));
        }
        self.install_code(&active, &shadow).map(|r| r.for_slots(a, s))
    }

    fn install_code(&self, active: &[&Model], shadow: &[&Model]) -> Result<crate::code::CodeReport> {
        let report = crate::code::install(&self.dir, active, shadow)?;
        if let Ok(mut last) = self.last_code.lock() {
            *last = Some(report.clone());
        }
        Ok(report)
    }

    /// The engine now, with the per-slot detail of this handle's last compile when there was
    /// one.
    pub fn code_report(&self) -> crate::code::CodeReport {
        let last = self.last_code.lock().ok().and_then(|mut l| l.take());
        let now = crate::code::status(&self.dir);
        let report = match last {
            Some(l) if l.program_id == now.program_id => l,
            _ => now,
        };
        match self.slots() {
            Ok([a, s, _]) => report.for_slots(a.as_deref(), s.as_deref()),
            Err(_) => report,
        }
    }

    /// Before the slots change from `before` to `after` (active, shadow, previous): the engine
    /// the change ends in. For the code engine, a copy that holds the models of both states
    /// goes in first (unless the one in place holds them), so every decision before and after
    /// the slot update is the code's, and a model the verifier refuses is refused here, before
    /// any slot changes. (No copy of valid models is too much for the verifier: the largest,
    /// six complete depth-12 trees with 64-bit thresholds, verifies in about 610k of its
    /// million instructions; the kernel test `a_copy_the_verifier_refuses_changes_nothing`.)
    pub(super) fn code_ahead(&self, before: [Option<&Model>; 3], after: [Option<&Model>; 3]) -> Result<()> {
        use crate::code::{self, Engine};
        let intent = self.intent.lock().map(|i| *i).unwrap_or_default();
        let on = code::in_use(&self.dir);
        let engine = match intent {
            EngineIntent::Keep if on => Engine::Code,
            EngineIntent::Keep => return Ok(()),
            EngineIntent::Default if on => Engine::Code,
            EngineIntent::Default => code::default_engine(&self.dir),
            EngineIntent::Set(e) => e,
        };
        if engine == Engine::Table {
            if on {
                code::remove(&self.dir, intent == EngineIntent::Set(Engine::Table))?;
            }
            return Ok(());
        }
        let active: Vec<&Model> = [after[0], after[2], before[0], before[2]]
            .into_iter()
            .flatten()
            .collect();
        let shadow: Vec<&Model> = [after[1], before[1]].into_iter().flatten().collect();
        if code::holds(&self.dir, &active, &shadow) {
            return Ok(());
        }
        let Err(e) = self.install_code(&active, &shadow) else {
            return Ok(());
        };
        if intent == EngineIntent::Default && !on {
            // The engine was off and the user named none: the table scores the models.
            if let Ok(mut w) = self.code_warning.lock() {
                *w = Some(workbench_flow::errors::line(&e));
            }
            return Ok(());
        }
        Err(err!(
            State,
            "{}: the code engine cannot take this change, so no slot changed (`deploy --engine table` has the table interpreter score the models): {}",
            self.iface,
            workbench_flow::errors::line(&e)
        ))
    }
}
