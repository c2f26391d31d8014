//! A store that forwards only the methods every backend must write, so the
//! trait's default methods (`table_access`, `record_access`,
//! `cached_fields`, `update_record_guarded`, `table_name_taken`,
//! `next_table_position`) run under the whole conformance suite too: a
//! backend may rely on them.

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::StoreResult;
use crate::ids::{
    ApiKeyId, AttachmentId, BaseId, FieldId, RecordId, TableId, UserId, ViewId, WorkspaceId,
};
use crate::model::{
    ApiKey, Attachment, Base, Field, Member, Record, Table, Timestamp, User, View, Workspace,
};
use crate::query::{RecordPage, RecordQuery};
use crate::role::Role;
use crate::store::{
    AuthStore, NewRecord, PasswordReset, RecordPatch, RecordsStore, RefreshToken, RotateOutcome,
    SchemaStore, SessionState, Store, StoredApiKey, UpsertOutcome, UserCredentials,
    WorkspacesStore,
};

/// Run before each `replace_field_if` is forwarded: a case's way to
/// interleave a write with a conversion, at the one moment it matters.
pub type BeforeReplace = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Forwards the required methods of every storage trait to `inner` and
/// keeps every default method of the traits.
#[derive(Clone)]
pub struct MinimalStore {
    inner: Arc<dyn Store>,
    before_replace: Option<BeforeReplace>,
}

impl std::fmt::Debug for MinimalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinimalStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl MinimalStore {
    /// A minimal view of `inner`, ready to hand to the suite.
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(Self {
            inner,
            before_replace: None,
        })
    }

    /// A minimal view of `inner` that runs `hook` before each
    /// `replace_field_if`.
    pub fn before_replace(inner: Arc<dyn Store>, hook: BeforeReplace) -> Arc<dyn Store> {
        Arc::new(Self {
            inner,
            before_replace: Some(hook),
        })
    }
}

#[async_trait]
impl AuthStore for MinimalStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.inner.create_user(user, password_hash).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        self.inner.get_user(id).await
    }

    async fn get_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.inner.get_users(ids).await
    }

    async fn find_credentials(&self, email: &str) -> StoreResult<Option<UserCredentials>> {
        self.inner.find_credentials(email).await
    }

    async fn get_credentials(&self, id: UserId) -> StoreResult<UserCredentials> {
        self.inner.get_credentials(id).await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        self.inner.update_user(user).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.set_password_hash(id, password_hash, at).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        self.inner.delete_user(id).await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        self.inner.insert_refresh_token(token).await
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: Timestamp,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome> {
        self.inner.rotate_refresh_token(token_hash, at, next).await
    }

    async fn revoke_token_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        self.inner.revoke_token_family(family_id, at).await
    }

    async fn revoke_user_tokens(&self, user_id: UserId, at: Timestamp) -> StoreResult<()> {
        self.inner.revoke_user_tokens(user_id, at).await
    }

    async fn session_state(
        &self,
        user_id: UserId,
        family_id: &str,
    ) -> StoreResult<Option<SessionState>> {
        self.inner.session_state(user_id, family_id).await
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()> {
        self.inner.insert_password_reset(reset).await
    }

    async fn use_password_reset(
        &self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<PasswordReset>> {
        self.inner.use_password_reset(token_hash, at).await
    }

    async fn create_api_key(&self, key: &StoredApiKey) -> StoreResult<()> {
        self.inner.create_api_key(key).await
    }

    async fn find_api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        self.inner.find_api_key(prefix).await
    }

    async fn list_api_keys(&self, user_id: UserId) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_api_keys(user_id).await
    }

    async fn delete_api_key(&self, user_id: UserId, id: ApiKeyId) -> StoreResult<()> {
        self.inner.delete_api_key(user_id, id).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_api_key(id, at).await
    }
}

#[async_trait]
impl WorkspacesStore for MinimalStore {
    async fn create_workspace(&self, ws: &Workspace, owner: UserId) -> StoreResult<()> {
        self.inner.create_workspace(ws, owner).await
    }

    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace> {
        self.inner.get_workspace(id).await
    }

    async fn list_workspaces(&self, user: UserId) -> StoreResult<Vec<(Workspace, Role)>> {
        self.inner.list_workspaces(user).await
    }

    async fn update_workspace(&self, ws: &Workspace) -> StoreResult<()> {
        self.inner.update_workspace(ws).await
    }

    async fn delete_workspace(&self, id: WorkspaceId) -> StoreResult<()> {
        self.inner.delete_workspace(id).await
    }

    async fn member_role(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Option<Role>> {
        self.inner.member_role(ws, user).await
    }

    async fn list_members(&self, ws: WorkspaceId) -> StoreResult<Vec<Member>> {
        self.inner.list_members(ws).await
    }

    async fn add_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.add_member(ws, user, role, at).await
    }

    async fn set_member_role(&self, ws: WorkspaceId, user: UserId, role: Role) -> StoreResult<()> {
        self.inner.set_member_role(ws, user, role).await
    }

    async fn remove_member(&self, ws: WorkspaceId, user: UserId) -> StoreResult<()> {
        self.inner.remove_member(ws, user).await
    }
}

#[async_trait]
impl SchemaStore for MinimalStore {
    async fn create_base(&self, base: &Base) -> StoreResult<()> {
        self.inner.create_base(base).await
    }

    async fn get_base(&self, id: BaseId) -> StoreResult<Base> {
        self.inner.get_base(id).await
    }

    async fn list_bases(&self, ws: WorkspaceId) -> StoreResult<Vec<Base>> {
        self.inner.list_bases(ws).await
    }

    async fn update_base(&self, base: &Base) -> StoreResult<()> {
        self.inner.update_base(base).await
    }

    async fn delete_base(&self, id: BaseId) -> StoreResult<()> {
        self.inner.delete_base(id).await
    }

    async fn create_table(&self, table: &Table, fields: &[Field]) -> StoreResult<()> {
        self.inner.create_table(table, fields).await
    }

    async fn get_table(&self, id: TableId) -> StoreResult<Table> {
        self.inner.get_table(id).await
    }

    async fn list_tables(&self, base: BaseId) -> StoreResult<Vec<Table>> {
        self.inner.list_tables(base).await
    }

    async fn update_table(&self, table: &Table) -> StoreResult<()> {
        self.inner.update_table(table).await
    }

    async fn delete_table(&self, id: TableId) -> StoreResult<()> {
        self.inner.delete_table(id).await
    }

    async fn create_field(&self, field: &Field) -> StoreResult<()> {
        self.inner.create_field(field).await
    }

    async fn get_field(&self, id: FieldId) -> StoreResult<Field> {
        self.inner.get_field(id).await
    }

    async fn list_fields(&self, table: TableId) -> StoreResult<Vec<Field>> {
        self.inner.list_fields(table).await
    }

    async fn fields_of_type(&self, type_name: &str) -> StoreResult<Vec<Field>> {
        self.inner.fields_of_type(type_name).await
    }

    async fn update_field(&self, field: &Field) -> StoreResult<()> {
        self.inner.update_field(field).await
    }

    async fn index_field_automatically(&self, field: FieldId, at: Timestamp) -> StoreResult<bool> {
        self.inner.index_field_automatically(field, at).await
    }

    async fn replace_field(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
    ) -> StoreResult<()> {
        self.inner.replace_field(field, cells).await
    }

    async fn replace_field_if(
        &self,
        field: &Field,
        cells: &[(RecordId, Option<Value>)],
        expected: &[(RecordId, Value)],
    ) -> StoreResult<bool> {
        if let Some(hook) = &self.before_replace {
            hook().await;
        }
        self.inner.replace_field_if(field, cells, expected).await
    }

    async fn delete_field(&self, id: FieldId) -> StoreResult<()> {
        self.inner.delete_field(id).await
    }

    async fn create_view(&self, view: &View) -> StoreResult<()> {
        self.inner.create_view(view).await
    }

    async fn get_view(&self, id: ViewId) -> StoreResult<View> {
        self.inner.get_view(id).await
    }

    async fn list_views(&self, table: TableId) -> StoreResult<Vec<View>> {
        self.inner.list_views(table).await
    }

    async fn update_view(&self, view: &View) -> StoreResult<()> {
        self.inner.update_view(view).await
    }

    async fn delete_view(&self, id: ViewId) -> StoreResult<()> {
        self.inner.delete_view(id).await
    }
}

#[async_trait]
impl RecordsStore for MinimalStore {
    async fn create_records(
        &self,
        table: TableId,
        records: &[NewRecord],
    ) -> StoreResult<Vec<Record>> {
        self.inner.create_records(table, records).await
    }

    async fn get_record(
        &self,
        table: TableId,
        id: RecordId,
        include_deleted: bool,
    ) -> StoreResult<Record> {
        self.inner.get_record(table, id, include_deleted).await
    }

    async fn recompute_records(
        &self,
        table: TableId,
        after: Option<RecordId>,
        limit: usize,
    ) -> StoreResult<Option<RecordId>> {
        self.inner.recompute_records(table, after, limit).await
    }

    async fn live_records_exceed(&self, table: TableId, n: usize) -> StoreResult<bool> {
        self.inner.live_records_exceed(table, n).await
    }

    async fn queue_fill(
        &self,
        table: TableId,
        fields: &[FieldId],
        how: crate::store::computed::FillQueue,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.inner.queue_fill(table, fields, how, now).await
    }

    async fn claim_fill(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Option<TableId>> {
        self.inner.claim_fill(owner, now, until).await
    }

    async fn fill_chunk(
        &self,
        table: TableId,
        owner: &str,
        limit: usize,
        until: Timestamp,
    ) -> StoreResult<crate::store::computed::FillStep> {
        self.inner.fill_chunk(table, owner, limit, until).await
    }

    async fn settle_fill(&self, table: TableId, fields: &[FieldId]) -> StoreResult<bool> {
        self.inner.settle_fill(table, fields).await
    }

    async fn update_records(
        &self,
        table: TableId,
        patches: &[RecordPatch],
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<Record>> {
        self.inner.update_records(table, patches, at, by).await
    }

    async fn upsert_records(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        records: &[NewRecord],
        replace: bool,
        at: Timestamp,
        by: Option<UserId>,
    ) -> StoreResult<Vec<UpsertOutcome>> {
        self.inner
            .upsert_records(table, merge_on, records, replace, at, by)
            .await
    }

    async fn upsert_matches(
        &self,
        table: TableId,
        merge_on: &[FieldId],
        keys: &[crate::model::Cells],
    ) -> StoreResult<Vec<Vec<RecordId>>> {
        self.inner.upsert_matches(table, merge_on, keys).await
    }

    async fn delete_records(
        &self,
        table: TableId,
        ids: &[RecordId],
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.delete_records(table, ids, at).await
    }

    async fn restore_record(&self, table: TableId, id: RecordId) -> StoreResult<Record> {
        self.inner.restore_record(table, id).await
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<RecordPage> {
        self.inner.query_records(query).await
    }

    async fn live_record_ids(
        &self,
        table: TableId,
        ids: &[RecordId],
    ) -> StoreResult<Vec<RecordId>> {
        self.inner.live_record_ids(table, ids).await
    }

    async fn field_cells(
        &self,
        table: TableId,
        field: FieldId,
    ) -> StoreResult<Vec<(RecordId, Value)>> {
        self.inner.field_cells(table, field).await
    }

    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        self.inner.create_attachment(attachment).await
    }

    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment> {
        self.inner.get_attachment(id).await
    }

    async fn get_attachments(&self, ids: &[AttachmentId]) -> StoreResult<Vec<Attachment>> {
        self.inner.get_attachments(ids).await
    }
}

#[async_trait]
impl crate::store::ChangesStore for MinimalStore {
    async fn changes_since(
        &self,
        base: BaseId,
        after: i64,
        limit: usize,
    ) -> StoreResult<crate::store::ChangesPage> {
        self.inner.changes_since(base, after, limit).await
    }

    async fn seq_at(
        &self,
        base: crate::ids::BaseId,
        at: crate::model::Timestamp,
    ) -> StoreResult<i64> {
        self.inner.seq_at(base, at).await
    }

    async fn record_changes(
        &self,
        table: TableId,
        record: RecordId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<crate::store::ChangeEvent>> {
        self.inner
            .record_changes(table, record, before, limit)
            .await
    }

    async fn prune_changes(&self, cutoff: Timestamp) -> StoreResult<u64> {
        self.inner.prune_changes(cutoff).await
    }

    async fn table_base(&self, table: TableId) -> StoreResult<BaseId> {
        self.inner.table_base(table).await
    }

    fn change_feed(&self) -> &crate::store::ChangeFeed {
        self.inner.change_feed()
    }
}

#[async_trait]
impl crate::store::WebhooksStore for MinimalStore {
    async fn create_webhook(
        &self,
        webhook: &crate::store::Webhook,
    ) -> StoreResult<crate::store::Webhook> {
        self.inner.create_webhook(webhook).await
    }

    async fn get_webhook(&self, id: crate::ids::WebhookId) -> StoreResult<crate::store::Webhook> {
        self.inner.get_webhook(id).await
    }

    async fn list_webhooks(&self, base: BaseId) -> StoreResult<Vec<crate::store::Webhook>> {
        self.inner.list_webhooks(base).await
    }

    async fn update_webhook(&self, webhook: &crate::store::Webhook) -> StoreResult<()> {
        self.inner.update_webhook(webhook).await
    }

    async fn set_webhook_enabled(
        &self,
        id: crate::ids::WebhookId,
        enabled: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.set_webhook_enabled(id, enabled, at).await
    }

    async fn save_airtable_hook(
        &self,
        id: crate::ids::WebhookId,
        hook: &crate::store::AirtableHook,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.save_airtable_hook(id, hook, at).await
    }

    async fn delete_webhook(&self, id: crate::ids::WebhookId) -> StoreResult<()> {
        self.inner.delete_webhook(id).await
    }

    async fn claim_webhooks(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<crate::store::Webhook>> {
        self.inner.claim_webhooks(owner, now, until, limit).await
    }

    async fn save_progress(
        &self,
        owner: &str,
        id: crate::ids::WebhookId,
        progress: &crate::store::Progress,
        at: crate::model::Timestamp,
    ) -> StoreResult<bool> {
        self.inner.save_progress(owner, id, progress, at).await
    }

    async fn release_webhooks(&self, owner: &str) -> StoreResult<()> {
        self.inner.release_webhooks(owner).await
    }

    async fn list_deliveries(
        &self,
        id: crate::ids::WebhookId,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<crate::store::Delivery>> {
        self.inner.list_deliveries(id, before, limit).await
    }
}
