use async_graphql::{Context, Subscription, ID};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{service::cases_topic, types::CaseEvent};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct CasesSubscription;

#[Subscription]
impl CasesSubscription {
    /// Changes to a patient's case history, for the patient and their active
    /// care team. The stream ends when the viewer loses access.
    async fn case_document_events(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = CaseEvent>> {
        let viewer = Viewer::from_ctx(ctx);
        let services = services(ctx)?.clone();
        let patient = services.cases.subscribe_check(&viewer, &patient_id).await?;
        let mut rx = services.stores.bus.subscribe(&cases_topic(patient));
        Ok(async_stream::stream! {
            loop {
                match rx.recv().await {
                    Ok(bytes) => {
                        let Ok(event) = serde_json::from_slice::<CaseEvent>(&bytes) else { continue };
                        let still = match viewer.require() {
                            Ok(s) => services.cases.can_read(s, patient).await.unwrap_or(false),
                            Err(_) => false,
                        };
                        if !still {
                            break;
                        }
                        yield event;
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
