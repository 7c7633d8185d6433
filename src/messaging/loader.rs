//! Messages by (conversation, seq), for conversations' last messages. A
//! stored message never changes, so nothing invalidates it.
use std::collections::HashMap;

use entity::message;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::types::Message;
use crate::{loader::Source, store::Stores};

pub struct MessageAtSource;

#[async_trait::async_trait]
impl Source for MessageAtSource {
    type Key = (i64, i64);
    type Value = Message;
    const NAME: &'static str = "message";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[(i64, i64)],
    ) -> anyhow::Result<HashMap<(i64, i64), Message>> {
        let any = keys.iter().fold(Condition::any(), |any, &(c, s)| {
            any.add(
                Condition::all()
                    .add(message::Column::ConversationId.eq(c))
                    .add(message::Column::Seq.eq(s)),
            )
        });
        Ok(message::Entity::find()
            .filter(any)
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|m| ((m.conversation_id, m.seq), Message::from(m)))
            .collect())
    }
}
