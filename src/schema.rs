//! The one GraphQL schema: every domain's query, mutation and subscription
//! root merged, plus the services resolvers call. Building it never connects
//! to anything; [`sdl`] needs no backend at all.
use std::sync::Arc;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema, SchemaBuilder};

use crate::{
    accounts::{
        mutation::AccountsMutation, query::AccountsQuery, service::AccountsService,
        subscription::AccountsSubscription,
    },
    cases::{
        mutation::CasesMutation, query::CasesQuery, service::CasesService,
        subscription::CasesSubscription,
    },
    config::Config,
    contacts::{
        mutation::ContactsMutation, query::ContactsQuery, service::ContactsService,
        subscription::ContactsSubscription,
    },
    directory::{mutation::DirectoryMutation, query::DirectoryQuery, service::DirectoryService},
    error::{AppError, AppResult},
    files::{mutation::FilesMutation, query::FilesQuery, service::FilesService},
    messaging::{
        mutation::MessagingMutation, query::MessagingQuery, service::MessagingService,
        subscription::MessagingSubscription,
    },
    store::Stores,
};

#[derive(MergedObject, Default)]
pub struct Query(
    AccountsQuery,
    DirectoryQuery,
    ContactsQuery,
    CasesQuery,
    MessagingQuery,
    FilesQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    AccountsMutation,
    DirectoryMutation,
    ContactsMutation,
    CasesMutation,
    MessagingMutation,
    FilesMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    AccountsSubscription,
    ContactsSubscription,
    CasesSubscription,
    MessagingSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The domain services, shared by every request.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub accounts: AccountsService,
    pub directory: DirectoryService,
    pub contacts: ContactsService,
    pub cases: CasesService,
    pub messaging: MessagingService,
    pub files: FilesService,
    pub limits: crate::limits::Limits,
}

impl Services {
    pub fn new(config: Arc<Config>, stores: Stores) -> Self {
        let accounts = AccountsService::new(stores.clone(), &config);
        let directory = DirectoryService::new(stores.clone(), accounts.clone(), &config);
        let contacts = ContactsService::new(stores.clone(), accounts.clone(), &config);
        let cases = CasesService::new(stores.clone(), accounts.clone(), &config);
        let messaging = MessagingService::new(stores.clone(), accounts.clone(), &config);
        let files = FilesService::new(stores.clone(), &config);
        let limits = crate::limits::Limits::new(stores.clone(), &config);
        Self {
            config,
            stores,
            accounts,
            directory,
            contacts,
            cases,
            messaging,
            files,
            limits,
        }
    }
}

/// The services in a resolver's context.
pub fn services<'a>(ctx: &Context<'a>) -> AppResult<&'a Services> {
    ctx.data::<Services>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("schema built without services")))
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}

/// The executable schema with limits from the config.
pub fn build(services: Services) -> AppSchema {
    let config = Arc::clone(&services.config);
    let mut b = builder()
        .data(services)
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity)
        .limit_recursive_depth(64)
        .extension(crate::error::ErrorCodes);
    if !config.introspection {
        b = b.disable_introspection();
    }
    b.finish()
}

/// The SDL of the schema, as stored in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
