//! `cutover schema`, `cutover completions` and `cutover man`: what editors and shells read,
//! generated from the model and the command-line definition, never written by hand.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs, SchemaArgs, SchemaOf, Shell};
use crate::runbook::schema;

/// Prints the runbook's JSON Schema, or writes it to `--output`.
pub fn schema(args: &SchemaArgs) -> Result<i32> {
    let (text, what) = match args.of {
        SchemaOf::Runbook => (schema::render(), "runbook"),
        SchemaOf::Fleet => (crate::fleet::schema::render(), "fleet file"),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote the {what} schema to {}", path.display());
        }
        None => print_all(text.as_bytes())?,
    }
    Ok(0)
}

/// Prints the completion script for the shell.
pub fn completions(args: &CompletionsArgs) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    match args.shell {
        Shell::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "cutover", &mut out),
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "cutover", &mut out),
        Shell::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "cutover", &mut out),
    }
    print_all(&out)?;
    Ok(0)
}

/// Prints cutover(1), or writes it and one page per command (`cutover-run.1`, …) into
/// `--output`.
pub fn man(args: &ManArgs) -> Result<i32> {
    let cmd = Cli::command();
    let Some(dir) = &args.output else {
        print_all(&page(&cmd)?)?;
        return Ok(0);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = vec![write_page(dir, "cutover", &cmd)?];
    for sub in cmd.get_subcommands() {
        let name = format!("cutover-{}", sub.get_name());
        let titled = sub.clone().display_name(name.clone()).bin_name(name.clone());
        written.push(write_page(dir, &name, &titled)?);
    }
    eprintln!("wrote {} man pages to {}", written.len(), dir.display());
    Ok(0)
}

fn page(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("cannot render the man page")?;
    Ok(out)
}

fn write_page(dir: &std::path::Path, name: &str, cmd: &clap::Command) -> Result<String> {
    let file = format!("{name}.1");
    let path = dir.join(&file);
    std::fs::write(&path, page(cmd)?).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}
