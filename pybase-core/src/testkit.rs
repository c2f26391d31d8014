//! The conformance suite every storage backend must pass (feature `testkit`).
//!
//! Cases are backend-agnostic `pub async fn`s taking an `Arc<dyn Store>`;
//! each creates its own users and workspace with random names, so it never
//! depends on an empty database and cases can run in parallel on one store.
//! A backend runs all of them with one line in a test file:
//!
//! ```ignore
//! pybase_core::conformance_tests!(async {
//!     std::sync::Arc::new(MyStore::open_in_memory().unwrap()) as std::sync::Arc<dyn pybase_core::store::Store>
//! });
//! ```
//!
//! which expands to one `#[tokio::test]` per case, named after it, so
//! `cargo test conformance::records_partial_update_merges` works.

// Test support: a failed expectation is meant to panic with the value shown.
#![allow(clippy::unwrap_used)]

pub mod access;
pub mod auth;
pub mod auth_attacks;
pub mod auth_cache;
pub mod changes;
pub mod computed;
pub mod computed_edits;
pub mod computed_fills;
pub mod computed_retypes;
pub mod computed_review;
pub mod computed_zones;
pub mod conversions;
pub mod fixture;
pub mod formula;
pub mod limits;
pub mod link_typecast;
pub mod links;
pub mod list_filters;
pub mod minimal;
pub mod query;
pub mod records;
pub mod schema;
pub mod services;
pub mod store_layer;
pub mod table_names;

/// Expands to one `#[tokio::test]` per conformance case. `$make` is an
/// expression evaluating to a future of `Arc<dyn Store>`; it is evaluated
/// once per test.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_cases!($make;
            access::workspace_crud_and_slug_conflict,
            access::members_roles_and_last_owner,
            access::non_member_sees_not_found,
            access::permission_matrix,
            changes::changes_log_every_write_in_order,
            changes::failed_writes_log_nothing,
            changes::unchanged_writes_log_nothing,
            changes::field_conversions_log_each_converted_record,
            changes::concurrent_writers_leave_a_gapless_consistent_log,
            changes::subscriptions_yield_each_event_once_in_order,
            changes::lagging_subscriptions_read_the_log_themselves,
            changes::revoked_subscriptions_stop_under_the_shared_reader,
            changes::removed_members_stop_receiving_at_once,
            changes::history_newest_first_and_revert,
            changes::revert_writes_only_what_differs_and_keeps_conversions,
            changes::revert_keeps_a_cell_whose_value_then_fits_no_more,
            changes::revert_leaves_out_links_to_records_deleted_since,
            changes::histories_are_each_records_events_of_the_log,
            changes::updates_log_cleared_and_replaced_cells,
            changes::an_upsert_logs_one_event_per_partner_record,
            changes::unpairing_a_link_logs_its_partner,
            changes::pruned_cursors_are_gone,
            changes::webhook_state_follows_the_lease,
            changes::webhook_switch_and_airtable_state_are_written_apart,
            access::api_key_scopes_and_workspace_limit,
            schema::schema_crud_and_unique_field_names,
            schema::every_field_type_validates_cells,
            schema::every_registered_type_stores_what_it_validates,
            schema::typecast_converts_and_creates_choices,
            schema::computed_fields_reject_writes_and_are_rendered,
            schema::link_cells_accept_only_live_records,
            schema::link_fields_become_text_of_primary_values,
            schema::numbers_round_trip_exactly,
            schema::rename_field_keeps_data,
            schema::change_field_type_converts_or_refuses_whole,
            schema::delete_field_removes_cells_and_view_references,
            schema::retype_fits_views_to_the_new_type,
            table_names::table_names_are_unique_in_a_base_ignoring_case,
            table_names::concurrent_creates_of_one_table_name_leave_one,
            table_names::stores_refuse_a_taken_table_name,
            table_names::concurrent_store_creates_of_one_table_name_leave_one,
            records::batch_create_is_all_or_nothing_and_names_the_index,
            records::batch_update_is_all_or_nothing,
            records::partial_update_merges_and_replace_clears,
            records::concurrent_updates_of_different_fields_both_survive,
            records::upsert_creates_and_updates,
            records::upsert_matches_answer_each_key,
            records::soft_delete_restore_and_include_deleted,
            records::attachments_round_trip,
            records::concurrent_attachment_appends_all_land,
            records::autonumbers_increase,
            records::update_after_field_or_role_change_uses_current_state,
            query::filter_operators_match_reference,
            query::sort_empty_last_and_ties_by_id,
            query::cursor_pages_walk_everything_once,
            query::cursors_walk_the_order_as_it_was,
            query::walks_hold_against_a_concurrent_writer,
            query::walks_by_last_change_meet_each_record_once,
            query::walks_hold_when_records_land_at_the_cursor,
            query::walks_end_on_their_last_records,
            query::walks_stand_where_their_first_page_read,
            query::walks_count_what_they_read,
            query::page_size_limits_and_bad_cursors,
            query::json_pages_match_rendered_pages,
            query::view_filter_and_sort_apply,
            query::filter_errors_name_the_field,
            query::random_queries_match_reference,
            formula::formula_filters_match_pure_evaluation,
            formula::random_formulas_match_pure_evaluation,
            formula::formula_record_ids_are_read_by_id,
            formula::formula_links_read_primary_values,
            formula::formula_errors_budget_and_check,
            computed::formula_on_the_same_record,
            computed::new_formula_fills_existing_records,
            computed::lookup_rollup_count_follow_links,
            computed::chain_across_three_tables,
            computed::self_links,
            computed::cycles_are_refused_with_their_path,
            computed::deleting_a_reference_invalidates_dependents,
            computed::filter_and_sort_on_a_computed_field,
            computed::concurrent_writers_of_two_inputs,
            computed::time_formulas_refresh_on_call,
            computed::large_table_fills_in_background,
            computed::fan_out_past_the_limit_goes_to_the_background,
            computed::derived_cells_log_one_event_per_record,
            computed::formula_text_shows_current_names,
            computed_fills::hand_offs_between_chunks_let_each_pass_complete,
            computed_fills::a_pass_asked_for_survives_a_restart,
            computed_fills::a_changed_formula_restarts_the_fill,
            computed_zones::computed_fields_evaluate_in_their_time_zone,
            computed_edits::changing_a_formula_logs_one_event_per_record,
            computed_edits::replace_keeps_derived_cells,
            computed_edits::deleted_reference_keeps_its_name,
            computed_edits::unparsable_formulas_give_their_position,
            computed_edits::patched_options_merge,
            computed_retypes::retyping_a_read_field_checks_its_readers_again,
            computed_retypes::rechecks_keep_to_the_fields_a_reader_named,
            computed_review::whole_numbers_are_integers,
            computed_review::option_changes_recompute_readers,
            computed_review::date_rollups_are_dates,
            computed_review::a_formula_reading_itself_is_a_cycle,
            computed_review::formulas_read_links_as_primary_values,
            computed_review::filters_skip_error_cells,
            computed_review::computed_fields_in_a_new_table,
            computed_review::paging_a_sort_over_error_cells_loses_nothing,
            computed_review::a_primary_field_closing_a_cycle_is_refused,
            computed_review::a_lookup_of_a_link_holds_its_ids,
            link_typecast::typecast_links_by_primary_value,
            link_typecast::typecast_upserts_the_write_refuses_make_nothing,
            link_typecast::typecast_link_names_are_values_made_once,
            link_typecast::typecast_names_wait_for_the_single_record_inverse,
            link_typecast::retyping_into_a_link_names_records_by_primary_value,
            conversions::writes_wait_for_a_conversion_and_meet_the_new_type,
            conversions::conversions_convert_again_what_other_instances_wrote,
            conversions::failed_link_conversions_trash_the_records_they_made,
            conversions::names_with_commas_survive_text_and_back,
            links::two_way_links_stay_in_step,
            links::partner_cells_are_logged,
            links::soft_deleted_links_hide_and_come_back,
            links::one_way_links_and_deleting_a_side,
            links::single_record_inverse_refuses_a_second_link,
            links::a_soft_deleted_record_lets_go_of_a_single_record_inverse,
            links::concurrent_links_to_one_record_all_land,
            links::reverse_index_follows_link_writes,
            links::concurrent_writes_on_both_sides_stay_mirrored,
            list_filters::lookups_of_numbers_and_checkboxes_filter_by_every_item,
            list_filters::lists_sort_by_their_first_text_item,
            list_filters::a_lookup_of_numbers_sorts_by_its_first_number,
            limits::cells_and_choices_are_bounded,
            limits::fields_and_options_are_bounded,
            limits::indexed_fields_are_capped,
            limits::queries_index_their_fields_automatically,
            limits::filter_size_is_bounded,
            store_layer::update_record_guarded_checks_role_fields_and_record,
            store_layer::query_records_guarded_reads_only_while_current,
            store_layer::table_and_record_access_read_one_consistent_state,
            store_layer::records_of_another_table_are_not_found,
            store_layer::reset_tokens_are_used_at_most_once_under_concurrency,
            store_layer::users_batch_read_email_conflict_and_delete_cascade,
            store_layer::user_methods_answer_not_found_for_an_absent_user,
            store_layer::users_keep_what_they_are_given_and_emails_are_unique,
            store_layer::refresh_token_spend_race_has_exactly_one_winner,
            store_layer::refresh_rotation_refuses_what_may_not_continue,
            store_layer::rotation_racing_a_revocation_leaves_no_live_token,
            store_layer::revoking_a_user_spends_their_reset_tokens,
            store_layer::api_keys_prefix_conflict_order_and_owner,
            store_layer::deleting_a_user_removes_sessions_resets_and_keys,
            store_layer::workspace_slugs_are_unique_and_absent_ones_not_found,
            store_layer::members_conflict_and_not_found,
            store_layer::the_last_owner_stays_even_under_concurrency,
            store_layer::workspaces_and_members_list_oldest_first,
            store_layer::deleting_a_workspace_removes_everything_in_it,
            store_layer::schema_methods_answer_not_found,
            store_layer::field_names_are_unique_in_a_table_ignoring_case,
            store_layer::schema_rows_keep_what_they_are_given,
            store_layer::schema_lists_follow_their_documented_order,
            store_layer::deleting_a_base_or_table_removes_what_hangs_off_it,
            store_layer::replace_and_delete_field_rewrite_every_record,
            store_layer::replace_field_if_compares_the_cells_first,
            store_layer::create_records_numbers_in_order_and_fails_whole,
            store_layer::failing_update_and_delete_batches_change_nothing,
            store_layer::patches_merge_replace_and_apply_in_order,
            store_layer::upserts_merge_create_and_refuse_ambiguity_whole,
            store_layer::soft_delete_restore_and_live_ids,
            store_layer::attachments_round_trip_and_skip_missing,
            store_layer::concurrent_patches_of_different_cells_both_survive,
            store_layer::cells_keep_numbers_and_text_exactly,
            store_layer::queries_and_pages_match_the_reference_evaluator,
            store_layer::cursors_with_null_and_mistyped_values_follow_eval,
        );
    };
}

/// Implementation detail of [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::store::Store> = $make.await;
                $crate::testkit::$module::$case(store).await;
            }
        )*
    };
}

/// A conformance case left out of its macro would never run: every public
/// `async fn(store)` of the testkit modules must be listed in
/// [`conformance_tests!`] or [`auth_conformance_tests!`], and every listed
/// case must exist.
#[cfg(test)]
mod registry {
    use std::collections::BTreeSet;

    /// The sources of the case modules, by module name.
    const MODULES: &[(&str, &str)] = &[
        ("access", include_str!("testkit/access.rs")),
        ("auth", include_str!("testkit/auth.rs")),
        ("auth_attacks", include_str!("testkit/auth_attacks.rs")),
        ("auth_cache", include_str!("testkit/auth_cache.rs")),
        ("changes", include_str!("testkit/changes.rs")),
        ("computed", include_str!("testkit/computed.rs")),
        ("computed_edits", include_str!("testkit/computed_edits.rs")),
        ("computed_fills", include_str!("testkit/computed_fills.rs")),
        ("conversions", include_str!("testkit/conversions.rs")),
        (
            "computed_retypes",
            include_str!("testkit/computed_retypes.rs"),
        ),
        (
            "computed_review",
            include_str!("testkit/computed_review.rs"),
        ),
        ("computed_zones", include_str!("testkit/computed_zones.rs")),
        ("formula", include_str!("testkit/formula.rs")),
        ("limits", include_str!("testkit/limits.rs")),
        ("links", include_str!("testkit/links.rs")),
        ("link_typecast", include_str!("testkit/link_typecast.rs")),
        ("list_filters", include_str!("testkit/list_filters.rs")),
        ("query", include_str!("testkit/query.rs")),
        ("records", include_str!("testkit/records.rs")),
        ("schema", include_str!("testkit/schema.rs")),
        ("store_layer", include_str!("testkit/store_layer.rs")),
        ("table_names", include_str!("testkit/table_names.rs")),
        ("store_layer", include_str!("testkit/store_layer/query.rs")),
        (
            "store_layer",
            include_str!("testkit/store_layer/records.rs"),
        ),
        ("store_layer", include_str!("testkit/store_layer/schema.rs")),
        ("store_layer", include_str!("testkit/store_layer/users.rs")),
        (
            "store_layer",
            include_str!("testkit/store_layer/workspaces.rs"),
        ),
    ];

    /// `module::case` for each `pub async fn case(store: Arc<dyn ...>)`.
    fn defined() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (module, source) in MODULES {
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub async fn ") else {
                    continue;
                };
                if let Some((name, args)) = rest.split_once('(')
                    && args.starts_with("store: Arc<dyn ")
                {
                    out.insert(format!("{module}::{name}"));
                }
            }
        }
        out
    }

    /// `module::case` entries of the macro named `name` in `source`.
    fn listed(source: &str, name: &str) -> Vec<String> {
        let start = source
            .find(&format!("macro_rules! {name}"))
            .unwrap_or_else(|| panic!("macro {name} not found"));
        let body = &source[start..];
        let body = &body[..body.find("};").expect("end of macro")];
        body.lines()
            .map(str::trim)
            .filter_map(|l| l.strip_suffix(','))
            .filter(|l| l.contains("::") && !l.contains('$') && !l.contains(' '))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_public_case_is_registered_once() {
        let mut registered = listed(include_str!("testkit.rs"), "conformance_tests");
        registered.extend(listed(
            include_str!("testkit/auth.rs"),
            "auth_conformance_tests",
        ));
        let set: BTreeSet<String> = registered.iter().cloned().collect();
        assert_eq!(set.len(), registered.len(), "a case is listed twice");
        let defined = defined();
        assert!(defined.len() > 50, "found only {} cases", defined.len());
        let unlisted: Vec<_> = defined.difference(&set).collect();
        assert!(unlisted.is_empty(), "cases no macro runs: {unlisted:?}");
        let missing: Vec<_> = set.difference(&defined).collect();
        assert!(
            missing.is_empty(),
            "listed cases that do not exist: {missing:?}"
        );
    }
}
