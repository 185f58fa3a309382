//! How many SMS a text is sent as (3GPP TS 23.038 and 23.040): a text all in the GSM 7-bit alphabet is 160
//! characters in one message, 153 a segment when it is split (the rest of each segment is the concatenation header);
//! anything else goes as UCS-2, 70 UTF-16 units in one message, 67 a segment. The extension table's characters
//! (`€`, `[`, `{`, `|`, …) cost two septets, and neither an escape pair nor a surrogate pair is split across
//! segments, as carriers (and Twilio's segment calculator) count them.

use serde::{Deserialize, Serialize};

/// The alphabet a text is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What sending a text costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segments {
    pub encoding: Encoding,
    /// Messages the text is sent as (each billed as one SMS); 0 for an empty text.
    pub count: u32,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets `c` takes in GSM 7-bit, or `None` when it has no GSM 7-bit form.
fn septets(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the segments `text` is sent as.
pub fn count(text: &str) -> Segments {
    let gsm: Option<Vec<u32>> = text.chars().map(septets).collect();
    let (encoding, units, single, multi) = match gsm {
        Some(units) => (Encoding::Gsm7, units, 160, 153),
        None => (Encoding::Ucs2, text.chars().map(|c| c.len_utf16() as u32).collect(), 70, 67),
    };
    let total: u32 = units.iter().sum();
    if total == 0 {
        return Segments { encoding, count: 0 };
    }
    if total <= single {
        return Segments { encoding, count: 1 };
    }
    // Fill segments greedily, a character whole in one segment.
    let (mut count, mut used) = (1, 0);
    for u in units {
        if used + u > multi {
            count += 1;
            used = 0;
        }
        used += u;
    }
    Segments { encoding, count }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm_texts_fit_160_then_153_a_segment() {
        assert_eq!(count(""), Segments { encoding: Encoding::Gsm7, count: 0 });
        assert_eq!(count("Hello"), Segments { encoding: Encoding::Gsm7, count: 1 });
        assert_eq!(count(&"a".repeat(160)).count, 1);
        assert_eq!(count(&"a".repeat(161)).count, 2);
        assert_eq!(count(&"a".repeat(306)).count, 2);
        assert_eq!(count(&"a".repeat(307)).count, 3);
        // `€` is an escape pair: 80 of them are 160 septets, one message; 81 are two.
        assert_eq!(count(&"€".repeat(80)), Segments { encoding: Encoding::Gsm7, count: 1 });
        assert_eq!(count(&"€".repeat(81)).count, 2);
        // 152 septets then a pair: the pair is not split, so it starts the second segment.
        assert_eq!(count(&format!("{}€{}", "a".repeat(152), "a".repeat(8))).count, 2);
        assert_eq!(count(&format!("{}€{}", "a".repeat(152), "a".repeat(152))).count, 3);
    }

    #[test]
    fn other_texts_go_as_ucs2_70_then_67() {
        assert_eq!(count("héllo ☃"), Segments { encoding: Encoding::Ucs2, count: 1 });
        assert_eq!(count(&"☃".repeat(70)).count, 1);
        assert_eq!(count(&"☃".repeat(71)).count, 2);
        assert_eq!(count(&"☃".repeat(134)).count, 2);
        assert_eq!(count(&"☃".repeat(135)).count, 3);
        // An emoji is a surrogate pair: 35 of them fill one message.
        assert_eq!(count(&"😀".repeat(35)).count, 1);
        assert_eq!(count(&"😀".repeat(36)).count, 2);
        // 66 units then a pair: the pair goes whole into the second segment, which pushes the last unit into a
        // third (split, 134 units would fit two).
        assert_eq!(count(&format!("{}😀{}", "☃".repeat(66), "☃".repeat(66))).count, 3);
    }
}
