//! `cutover watch RUN_ID`: the read-only cockpit of a run another process drives. It
//! reads the run's event log only (never its store, lock or summary for writing), so it
//! works beside the driver and any number of other watchers.

use std::io::IsTerminal;

use anyhow::{Result, bail};

use super::Env;
use crate::cli::WatchArgs;

pub async fn watch(env: &Env, args: &WatchArgs) -> Result<i32> {
    let id = &args.run_id;
    let dir = env.store.run_dir(id)?;
    if !dir.join("journal").is_dir() {
        bail!("there is no run {id} (see `cutover runs`)");
    }
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        bail!(
            "`cutover watch` draws the cockpit and needs a terminal; from a script, `cutover status {id}` \
             or `cutover journal {id}` read the run"
        );
    }
    crate::tui::watch(&dir, id).await?;
    Ok(0)
}
