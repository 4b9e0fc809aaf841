//! `completions <shell>`: clap_complete's scripts, with bash's subcommand completion repaired
//! for a binary name with a hyphen.

use clap::Command;
use clap_complete::Shell;

/// The completion script of `cmd`, the whole command line, for `shell`.
pub fn script(cmd: &Command, shell: Shell) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
    match shell {
        Shell::Bash => bash_repaired(&String::from_utf8_lossy(&out), &name).into_bytes(),
        _ => out,
    }
}

/// clap_complete's bash script for a hyphenated binary name completes nothing after the
/// subcommand (clap-rs/clap issue 6421): its `case` arms spell each hyphen `__subcmd__`, its loop
/// `__`. The arms are renamed as the loop spells them; once clap agrees with itself, a no-op.
fn bash_repaired(script: &str, name: &str) -> String {
    let loop_spelling = format!("{}__subcmd__", name.replace('-', "__"));
    let arm_spelling = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
    script.replace(&arm_spelling, &loop_spelling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arms_are_spelt_as_the_loop_spells_the_state() {
        let broken = "cmd=\"my__app__subcmd__run\"\n        my__subcmd__app__subcmd__run)\n";
        assert_eq!(
            bash_repaired(broken, "my-app"),
            "cmd=\"my__app__subcmd__run\"\n        my__app__subcmd__run)\n"
        );
        let fine = "cmd=\"tool__subcmd__run\"\n        tool__subcmd__run)\n";
        assert_eq!(bash_repaired(fine, "tool"), fine);
    }

    #[test]
    fn the_flags_are_offered() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(script(&crate::cli::command(), shell)).unwrap();
            for flag in ["start-from", "webhook-url", "verbose", "send-test"] {
                assert!(text.contains(flag), "{shell} lacks --{flag}");
            }
        }
    }
}
