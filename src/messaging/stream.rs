//! The lossless message stream behind `messageAdded`.
//!
//! 1. Subscribe to the viewer's inbox topic first, then read the backlog
//!    (`afterSeq`) from SQL: nothing committed in between can be missed.
//! 2. Live messages are checked against the last seq delivered per
//!    conversation: duplicates are dropped, and a gap (a message the bus lost
//!    or this subscriber lagged past) is filled from SQL before going on.
//! 3. A message whose successor never comes would leave a gap nobody sees:
//!    so whenever the bus may have dropped events (the subscriber lagged, or
//!    Redis reconnected) and on a slow safety tick, SQL is checked for
//!    conversations that moved past what was delivered.
use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{
    service::{inbox_topic, MessagingService},
    types::{ConversationEventKind, InboxItem, Message},
};
use crate::error::AppResult;

/// How often the stream looks at the bus generation (cheap) and, every
/// `SAFETY_TICKS` ticks, rechecks SQL regardless.
const TICK: Duration = Duration::from_millis(500);
const SAFETY_TICKS: u32 = 20;
const FILL_BATCH: u64 = 500;

struct Cursor {
    svc: MessagingService,
    member: i64,
    only: Option<i64>,
    /// Last seq delivered per conversation.
    last: HashMap<i64, i64>,
    /// When the stream started (ms): where it begins in conversations it has not seen.
    started_ms: i64,
    /// When SQL was last checked for missed messages (ms).
    checked_ms: i64,
}

impl Cursor {
    /// Where delivery stands in `conversation`, learning it on first sight.
    async fn position(&mut self, conversation: i64) -> AppResult<i64> {
        if let Some(p) = self.last.get(&conversation) {
            return Ok(*p);
        }
        let p = self
            .svc
            .seq_before_time(conversation, self.started_ms)
            .await?;
        self.last.insert(conversation, p);
        Ok(p)
    }

    /// Stored messages after the delivered position, up to `until`.
    async fn fill(&mut self, conversation: i64, until: Option<i64>) -> AppResult<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            let from = self.position(conversation).await?;
            let batch = self
                .svc
                .stored_after(conversation, from, until, FILL_BATCH)
                .await?;
            let n = batch.len() as u64;
            if let Some(m) = batch.last() {
                self.last.insert(conversation, m.seq);
            }
            out.extend(batch);
            if n < FILL_BATCH {
                return Ok(out);
            }
        }
    }

    /// What SQL has that was not delivered, in every conversation concerned.
    async fn reconcile(&mut self) -> AppResult<Vec<Message>> {
        let now = Utc::now().timestamp_millis();
        let mut out = Vec::new();
        match self.only {
            Some(c) => out.extend(self.fill(c, None).await?),
            None => {
                // Conversations active since the last check (with a margin for
                // clock skew between instances), past what was delivered.
                let since = self.checked_ms.min(now) - 10_000;
                let active = self.svc.active_since(self.member, since).await?;
                for (conversation, last_seq) in active {
                    if self.last.get(&conversation).is_none_or(|p| *p < last_seq) {
                        out.extend(self.fill(conversation, None).await?);
                    }
                }
            }
        }
        self.checked_ms = now;
        Ok(out)
    }

    /// A live message: deliver it after any gap before it, or drop a duplicate.
    async fn live(&mut self, m: Message) -> AppResult<Vec<Message>> {
        let at = self.position(m.conversation_id).await?;
        if m.seq <= at {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if m.seq > at + 1 {
            out.extend(self.fill(m.conversation_id, Some(m.seq - 1)).await?);
        }
        self.last.insert(m.conversation_id, m.seq);
        out.push(m);
        Ok(out)
    }
}

/// Messages for `member`: of one conversation (`only`), from `after_seq` on
/// if given, or of all their conversations from now on.
pub fn messages(
    svc: MessagingService,
    member: i64,
    only: Option<i64>,
    after_seq: Option<i64>,
) -> impl Stream<Item = Message> {
    async_stream::stream! {
        let bus = svc.stores.bus.clone();
        // Subscribe before reading anything, so nothing falls in between.
        let mut rx = bus.subscribe(&inbox_topic(member));
        let now = Utc::now().timestamp_millis();
        let mut cursor = Cursor { svc, member, only, last: HashMap::new(), started_ms: now, checked_ms: now };
        if let Some(c) = only {
            let start = match after_seq {
                Some(s) => s,
                None => cursor.svc.seq_before_time(c, i64::MAX).await.unwrap_or(0),
            };
            cursor.last.insert(c, start);
            match cursor.fill(c, None).await {
                Ok(backlog) => for m in backlog { yield m; },
                Err(e) => { tracing::warn!(error = ?e, "message backlog unavailable"); return; }
            }
        }
        let mut generation = bus.generation();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u32;
        loop {
            let batch = tokio::select! {
                received = rx.recv() => match received {
                    Ok(bytes) => match serde_json::from_slice::<InboxItem>(&bytes) {
                        Ok(InboxItem::Message(m)) if only.is_none_or(|c| c == m.conversation_id) => cursor.live(m).await,
                        Ok(InboxItem::Event(e)) if e.kind == ConversationEventKind::Closed && only == Some(e.conversation_id) => {
                            // Deliver anything still stored, then end the stream.
                            if let Ok(rest) = cursor.reconcile().await {
                                for m in rest { yield m; }
                            }
                            break;
                        }
                        _ => continue,
                    },
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "message subscriber lagged; filling from SQL");
                        cursor.reconcile().await
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    ticks += 1;
                    let g = bus.generation();
                    if g == generation && ticks < SAFETY_TICKS {
                        continue;
                    }
                    generation = g;
                    ticks = 0;
                    cursor.reconcile().await
                }
            };
            match batch {
                Ok(ms) => for m in ms {
                    let lag = Utc::now().timestamp_millis() - m.created_at_ms;
                    metrics::histogram!("drseek_message_delivery_lag_seconds").record(lag.max(0) as f64 / 1000.0);
                    yield m;
                },
                Err(e) => tracing::warn!(error = ?e, "could not fill a message gap; will retry"),
            }
        }
    }
}
