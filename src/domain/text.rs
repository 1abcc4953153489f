//! Clean-up of raw ticket text before it is embedded: repairs UTF-8 that was
//! decoded as Windows-1252 ("fÃ¼r" -> "für") and drops e-mail client noise
//! (`received from:` lines, inline image references) that says nothing about
//! the problem.

/// Windows-1252 characters for bytes 0x80..=0x9F (None where the byte is undefined).
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The byte a character came from if the text was mis-decoded as Windows-1252.
fn cp1252_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 0x80 || (0xA0..=0xFF).contains(&code) || (0x80..=0x9F).contains(&code) {
        return u8::try_from(code).ok();
    }
    CP1252_HIGH
        .iter()
        .position(|&m| m == Some(c))
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// Re-decodes `text` as UTF-8 when it is UTF-8 that was read as Windows-1252;
/// leaves it unchanged otherwise.
pub fn repair_mojibake(text: &str) -> std::borrow::Cow<'_, str> {
    let suspicious = text.chars().any(|c| {
        matches!(
            c,
            'Ã' | 'Â' | 'â' | 'Ð' | 'Ñ' | 'ä' | 'å' | 'æ' | 'ç' | 'è' | 'é' | 'ï'
        )
    });
    if !suspicious {
        return text.into();
    }
    let bytes: Option<Vec<u8>> = text.chars().map(cp1252_byte).collect();
    match bytes.map(String::from_utf8) {
        Some(Ok(repaired)) if repaired != text => repaired.into(),
        _ => text.into(),
    }
}

/// What the model reads for a ticket: its title and description through the
/// ticket template, cleaned first when `clean` (`triage.clean_text`). Triage,
/// ingest and `reembed` all build it here, so a stored vector can be made
/// again from its payload.
pub fn model_text(
    prompts: &crate::prompts::Prompts,
    title: &str,
    description: &str,
    clean: bool,
) -> String {
    if clean {
        prompts.ticket(&clean_ticket_text(title), &clean_ticket_text(description))
    } else {
        prompts.ticket(title, description)
    }
}

/// Removes e-mail client noise and collapses runs of blank lines and spaces.
pub fn clean_ticket_text(text: &str) -> String {
    let repaired = repair_mojibake(text);
    let mut out = String::with_capacity(repaired.len());
    for line in repaired.lines() {
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        if lower.starts_with("received from:") {
            continue;
        }
        let mut kept = String::with_capacity(trimmed.len());
        for word in trimmed.split_whitespace() {
            if word.starts_with("[cid:") {
                continue;
            }
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(word);
        }
        if kept.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_latin_and_cjk_mojibake() {
        assert_eq!(
            repair_mojibake("install company barcode fÃ¼r ewew"),
            "install company barcode für ewew"
        );
        assert_eq!(repair_mojibake("é‚®ç®±ç™»å½•"), "邮箱登录");
    }

    #[test]
    fn leaves_real_accents_alone() {
        assert_eq!(repair_mojibake("café résumé"), "café résumé");
        assert_eq!(repair_mojibake("Grüße aus Köln"), "Grüße aus Köln");
    }

    #[test]
    fn drops_mail_noise_and_blank_lines() {
        let raw = "\n\nreceived from: abc.def@gmail.com\n\n[cid:image001.jpg@01D1] hello   team,\n\nmy vpn is down\n";
        assert_eq!(clean_ticket_text(raw), "hello team,\nmy vpn is down");
    }
}
