//! Closed sets of label values (phases, reasons, actions, outcomes, states): each is an enum
//! with `ALL`, `COUNT`, `as_str()` and `index()`, so metric arrays are sized from the enum and a
//! new variant is a compile error wherever it must be handled, never a silent drop or a panic.
//! The metric table (`telemetry::table`) takes its label values from here.

/// A closed set of label values.
pub trait Label: Copy + Eq + 'static {
    /// Every value, in declaration order (`index()` is the position in it).
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    /// The names of every value, in order (for docs and the metric table).
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

/// Gives an enum deriving `strum::{EnumCount, VariantArray, IntoStaticStr}` its inherent
/// `ALL`, `COUNT`, `as_str()` and `index()`, and the [`Label`] trait.
macro_rules! labels {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = <$t as strum::VariantArray>::VARIANTS;
            /// The number of values: the size of arrays indexed by [`Self::index`].
            pub const COUNT: usize = <$t as strum::EnumCount>::COUNT;
            /// The label value (also the serialized form).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
            /// Position in [`Self::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }
        impl $crate::core::labels::Label for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn as_str(self) -> &'static str {
                <$t>::as_str(self)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(<$t>::as_str(*self))
            }
        }
    )*};
}
pub(crate) use labels;

impl Label for cdc_sentinel_probe::Reason {
    const ALL: &'static [Self] = cdc_sentinel_probe::Reason::ALL;
    fn as_str(self) -> &'static str {
        cdc_sentinel_probe::Reason::as_str(self)
    }
}
