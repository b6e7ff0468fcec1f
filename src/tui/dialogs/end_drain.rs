//! Ending the drain before a scale to zero early: the new side goes away while some
//! resolvers may still send clients to it.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next};
use crate::engine::Command;
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct EndDrain {
    pub step: String,
    /// When the drain would end by itself.
    pub until: DateTime<Utc>,
    pub error: Option<String>,
}

impl EndDrain {
    pub fn new(step: String, until: DateTime<Utc>) -> Self {
        Self {
            step,
            until,
            error: None,
        }
    }
}

impl Component for EndDrain {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        Next::on_yes(key, || Command::EndDrain {
            step: self.step.clone(),
        })
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::about(
            ctx,
            format!(" end the drain before {}? ", self.step),
            theme.warn(),
            &self.step,
        );
        let left = (self.until - ctx.now).to_std().unwrap_or_default();
        b.text(format!(
            "DNS is back on the VMs on every authoritative server, but resolvers may still hand out the new address for {}. The new side keeps serving those clients until then.",
            crate::runbook::duration::countdown(left)
        ));
        let arriving: Vec<String> = ctx
            .state
            .step(&self.step)
            .map(|s| {
                s.objects
                    .iter()
                    .map(|o| format!("{}: {} {}", o.object, o.check, o.value))
                    .collect()
            })
            .unwrap_or_default();
        for a in arriving {
            b.text(format!("now: {a}"));
        }
        b.styled(
            "Ending it now drops the requests that still arrive there.".to_string(),
            theme.warn(),
        );
        b.text("");
        b.choice("  Enter ", "end the drain and scale down now");
        b.choice("  Esc   ", "keep draining");
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("Enter", "scale down now"), ("Esc", "keep draining")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }
}
