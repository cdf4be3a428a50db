//! A restart in the middle of a shadow trial (fleet review finding 7): the reused probe still
//! runs the candidate as its shadow, but the agent's memory of it was gone, and its file, now
//! part of `model_dir`'s baseline, was never taken again, so the rule never judged it and the
//! candidate series read 0. At start, a shadow the reused probe runs whose file is in
//! `model_dir` is the candidate again, its count starting from the restart (the probe's
//! counters before it mix the trial with what came before).

use super::watch::{Candidate, State};
use super::{log, probes, Agent};
use shared::abi::SLOT_SHADOW;
use workbench_flow::model::{file, id_string};

impl Agent {
    pub(super) fn resume_trial(&mut self) {
        let (Some(watch), Some(first)) = (&self.watch, self.ifaces.keys().next()) else {
            return;
        };
        let Ok(Some(shadow)) = probes::slot_model(first, SLOT_SHADOW) else {
            return;
        };
        let found = watch.files().find_map(|path| {
            let m = file::read(path).ok()?;
            (id_string(m.model.header.model_id) == shadow).then(|| (path.clone(), m.model))
        });
        let Some((path, model)) = found else {
            log(format!(
                "{first}: shadow model {shadow} stays; it is no file of {}, so no promotion rule judges it",
                watch.dir.display()
            ));
            return;
        };
        log(format!(
            "{}: shadow model {shadow} resumes its trial after the restart (counted from now): {}",
            path.display(),
            super::promotion::words(self.cfg.rule())
        ));
        self.candidate = Some((
            Candidate {
                file: path,
                model: shadow,
                baseline: self.counters_now(),
                counts: Default::default(),
                state: State::Evaluating,
            },
            model,
        ));
    }
}
