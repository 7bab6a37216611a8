//! Connection pairs: opening both sides (UTF8=ACCEPT when both offer it),
//! reconnecting with back-off, retiring a worker the servers refuse, and
//! the first pair that lists both sides for the plan.

use std::time::Duration;

use crate::destination::{Destination, DestinationSession};
use crate::error::MailboxError;
use crate::error::SessionError;
use crate::ledger::Ledger;
use crate::plan::{self, Plan, PlanOptions};
use crate::progress::EventKind;
use crate::source::{Source, SourceSession};
use crate::throttle::Backoff;

use super::run::Ctx;
use crate::error::{failed, EngineError, Side};

pub(crate) struct Pair {
    pub(crate) src: SourceSession,
    pub(crate) dst: DestinationSession,
}

/// One side opened for a worker; with UTF8=ACCEPT enabled when both sides
/// offered it at planning time.
async fn opened<T: Enable>(
    side: Side,
    opening: impl std::future::Future<Output = Result<T, SessionError>>,
    utf8: bool,
) -> Result<T, EngineError> {
    let mut s = opening
        .await
        .map_err(|source| EngineError::Session { side, source })?;
    if utf8 {
        s.enable("UTF8=ACCEPT")
            .await
            .map_err(failed(side, "ENABLE UTF8=ACCEPT"))?;
    }
    Ok(s)
}

/// ENABLE on either side.
trait Enable {
    async fn enable(&mut self, what: &str) -> Result<Vec<String>, MailboxError>;
}

impl Enable for SourceSession {
    async fn enable(&mut self, what: &str) -> Result<Vec<String>, MailboxError> {
        SourceSession::enable(self, what).await
    }
}

impl Enable for DestinationSession {
    async fn enable(&mut self, what: &str) -> Result<Vec<String>, MailboxError> {
        DestinationSession::enable(self, what).await
    }
}

/// Opens a pair, retrying with back-off (the server's suggestion, else about
/// 1, 2, 4, 8 s) while the failure is a connection problem or the server
/// pushing back (not, say, a refused login).
async fn reconnect(ctx: &Ctx) -> Result<Pair, EngineError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match open_pair(ctx).await {
            Ok(p) => return Ok(p),
            Err(e) if backoff.attempts() < 4 && e.is_transient() => {
                let wait = backoff.next(e.suggested_delay());
                ctx.tell.event(EventKind::Retrying {
                    error: e.to_string(),
                    wait,
                });
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A pair for a worker; `None` when the server pushed back (too many
/// connections) and other workers carry on, so this one retired. The last
/// worker keeps trying with back-off.
pub(super) async fn pair_or_retire(ctx: &Ctx) -> Result<Option<Pair>, EngineError> {
    match open_pair(ctx).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.pushback().is_some() && ctx.board.retire() => {
            ctx.tell.event(EventKind::FewerConnections {
                error: e.to_string(),
            });
            Ok(None)
        }
        Err(_) => reconnect(ctx).await.map(Some),
    }
}

pub(super) async fn open_pair(ctx: &Ctx) -> Result<Pair, EngineError> {
    let (src, dst) = tokio::join!(
        opened(
            Side::Source,
            ctx.source.open_for(ctx.opts.ledger.as_ref()),
            ctx.utf8
        ),
        opened(
            Side::Destination,
            ctx.destination.open_for(ctx.opts.ledger.as_ref()),
            ctx.utf8
        )
    );
    Ok(Pair {
        src: src?,
        dst: dst?,
    })
}

/// Opens one session per side (UTF8=ACCEPT when both offer it), lists both
/// and builds the folder plan. Returns the sessions for further use.
pub(super) async fn connect_and_plan(
    source: &Source,
    ids: Option<&Ledger>,
    destination: &Destination,
    opts: &PlanOptions,
    write: bool,
) -> Result<(Pair, Plan, bool), EngineError> {
    let dst = async {
        match write {
            true => destination.open_for(ids).await,
            false => destination.open_to_read().await,
        }
    };
    let (src, dst) = tokio::join!(source.open_for(ids), dst);
    let mut first = Pair {
        src: src.map_err(|source| EngineError::Session {
            side: Side::Source,
            source,
        })?,
        dst: dst.map_err(|source| EngineError::Session {
            side: Side::Destination,
            source,
        })?,
    };
    // Names travel as UTF-8 only when both sides accept it; otherwise both
    // speak modified UTF-7 and the plan translates.
    let utf8 = first.src.has_capability("UTF8=ACCEPT") && first.dst.has_capability("UTF8=ACCEPT");
    if utf8 {
        let source = first.src.enable("UTF8=ACCEPT").await;
        source.map_err(failed(Side::Source, "ENABLE UTF8=ACCEPT"))?;
        let destination = first.dst.enable("UTF8=ACCEPT").await;
        destination.map_err(failed(Side::Destination, "ENABLE UTF8=ACCEPT"))?;
    }
    let listing_err = |side: Side| failed(side, "listing folders");
    let src_listing = first
        .src
        .listing(utf8)
        .await
        .map_err(listing_err(Side::Source))?;
    let dst_listing = first
        .dst
        .listing(utf8)
        .await
        .map_err(listing_err(Side::Destination))?;
    let plan = plan::build(&src_listing, &dst_listing, opts);
    Ok((first, plan, utf8))
}

/// For `verify`: a connected pair and the plan; nothing is created.
pub(crate) async fn open_listings(
    source: &Source,
    destination: &Destination,
    opts: &PlanOptions,
) -> Result<(Pair, Plan), EngineError> {
    connect_and_plan(source, None, destination, opts, false)
        .await
        .map(|(p, plan, _)| (p, plan))
}
