//! `serve` and `users add` on the command line: flags into a `DeskConfig`, the login
//! link on stdout, errors into exit codes. The desk itself is `crate::desk`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use crate::cli::{ServeArgs, UsersArgs, UsersCommand};
use crate::config::SendTemplate;
use crate::desk::DeskConfig;
use crate::environment::Environment;
use crate::exit::{Exit, ExitError};

pub async fn run(args: ServeArgs, env: Environment) -> anyhow::Result<Exit> {
    let (ledger, results_dir) = crate::config::desk_paths(
        args.connect.config.as_deref(),
        args.ledger,
        args.results_dir,
        &env,
    )
    .map_err(|error| ExitError::new(Exit::Usage, error.to_string()))?;
    let config = DeskConfig {
        ledger,
        results_dir,
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        users: args.users,
        allow_hosts: args.allow_host,
        public_url: args.public_url,
        max_upload: args.max_upload_mib.saturating_mul(1 << 20),
        upload_budget: args.upload_budget_mib.saturating_mul(1 << 20),
        upload_ttl: args.upload_ttl,
        body_idle: args.body_idle_timeout,
        approvals: args.approvals,
        request_ttl: args.request_ttl,
        resend_failed_days: args.resend_failed_days,
        notify: {
            // The nightly send's robot, as `send` builds it (the config's notify_secret,
            // notify_label and desk_url).
            let mut send = crate::cli::SendArgs::default();
            send.target.config = args.connect.config.clone();
            send.reporting.notify_url = args.notify_url.clone();
            send.reporting.notify_format = args.notify_format;
            crate::config::hooks(&send, &env).notify
        },
        template: SendTemplate {
            config: args.connect.config,
            gateway: args.connect.gateway,
            ca_cert: args.connect.ca_cert,
            allow_insecure_http: args.connect.allow_insecure_http,
            simulate: args.simulate,
        },
    };
    crate::desk::serve(config, env, |url| {
        // The first line on stdout names the address (SPEC: port 0 is usable); the
        // second, the page to open (with the one-time link's token, when there is one).
        let base = url.split("/login").next().unwrap_or(url);
        crate::console::outln!("listening on {base}");
        if crate::console::is_json() {
            crate::console::event(
                "INFO",
                "",
                "the desk is open",
                serde_json::json!({ "url": url }),
            );
        } else {
            crate::console::outln!("The desk is open at {url}");
        }
        crate::console::flush();
    })
    .await
    .map_err(|error| ExitError::new(Exit::Usage, error.to_string()))?;
    Ok(Exit::Success)
}

pub fn users(args: UsersArgs) -> anyhow::Result<Exit> {
    let UsersCommand::Add {
        name,
        users,
        ledger,
        role,
    } = args.command;
    crate::desk::check_name(&name).map_err(|reason| ExitError::new(Exit::Usage, reason))?;
    let password = read_password(&name)?;
    crate::desk::check_password(&password).map_err(|reason| ExitError::new(Exit::Usage, reason))?;
    let hash = crate::desk::hash_password(&password).map_err(anyhow::Error::msg)?;
    if let Some(ledger) = ledger {
        let opened = crate::ledger::Ledger::open(&ledger, crate::ledger::Access::Write)?;
        let by = super::os_user();
        let replaced = crate::ledger::people::put_account(&opened, &name, role, &hash, &by)?;
        crate::ledger::audit::append(
            &opened,
            &by,
            "user_change",
            &serde_json::json!({"account": name, "role": role.as_str(), "change": "put"}),
        )?;
        crate::console::errln!(
            "{} {name} ({}) in {}",
            if replaced { "changed" } else { "added" },
            role.as_str(),
            ledger.display()
        );
        return Ok(Exit::Success);
    }
    let users = users.expect("clap requires --users without --ledger");
    let replaced = write_user(&users, &name, &hash)?;
    crate::console::errln!(
        "{} {name} in {}",
        if replaced {
            "changed the password of"
        } else {
            "added"
        },
        users.display()
    );
    Ok(Exit::Success)
}

fn read_password(name: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            return Err(ExitError::new(Exit::Usage, "the two passwords differ").into());
        }
        return Ok(first);
    }
    // One line, read to its end within a bound far above any password, so one that is
    // too long is refused whole rather than cut short.
    let mut line = String::new();
    std::io::Read::take(std::io::stdin().lock(), 64 * 1024).read_line(&mut line)?;
    if !line.ends_with('\n') && line.len() >= 64 * 1024 {
        return Err(ExitError::new(
            Exit::Usage,
            "the first line of stdin is longer than 64 KiB: that is no password",
        )
        .into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Sets `name`'s line in the users file (a new file is private to its owner); says
/// whether the name was there before.
fn write_user(path: &Path, name: &str, hash: &str) -> anyhow::Result<bool> {
    // An existing file is read as the desk reads it: a FIFO, or a file others may
    // write, is refused before anything is added to it.
    if path.exists() {
        crate::desk::read_users(path).or_else(|error| match error {
            crate::desk::UsersError::Empty { .. } => Ok(Vec::new()),
            other => Err(other),
        })?;
    }
    let existing = match crate::textfile::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => anyhow::bail!("cannot read {}: {error}", path.display()),
    };
    let mut replaced = false;
    let mut text = String::new();
    for line in existing.lines() {
        if line
            .split_once(':')
            .is_some_and(|(user, _)| user.trim() == name)
        {
            replaced = true;
            text.push_str(&format!("{name}:{hash}\n"));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !replaced {
        text.push_str(&format!("{name}:{hash}\n"));
    }
    let (replacement, mut file) = crate::outfile::Replacement::create(path)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    replacement.commit(file)?;
    Ok(replaced)
}
