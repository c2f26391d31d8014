//! One module per field type family: each owns its options, validation,
//! typecast, conversion input, filter operands, references and rendering
//! (the [`Kind`](super::kind::Kind) and [`KindInfo`](super::kind::KindInfo)
//! implementations). `registry.rs` lists the types.

mod checkbox;
mod computed;
mod list;
mod meta;
mod number;
mod select;
mod text;
mod time;
mod written_dates;

pub use checkbox::Checkbox;
pub use computed::{Count, Derived, Formula, Lookup, Rollup, result_value_kind};
pub(crate) use list::item_id;
pub use list::{Attachment, Link};
pub use meta::{Autonumber, CreatedBy, CreatedTime, UpdatedBy, UpdatedTime};
pub use number::{Currency, Duration, Number, Percent, Rating};
pub use select::{Choice, MultiSelect, SingleSelect};
pub use text::{Email, LongText, Phone, Text, Url};
pub(crate) use time::local_in;
pub use time::{Date, DateTime};
