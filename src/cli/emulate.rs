//! `ferry emulate`: one system's local emulator, with its credentials printed, until
//! Ctrl-C.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum EmulateCommand {
    /// A local Preservica (Entity API, S3 upload with OPEX ingest, process monitor, webhook
    /// subscriptions with signed deliveries)
    Preservica(PreservicaEmulateArgs),
    /// A local PhotoShelter (psapi v4.0 and v3: media, IPTC, galleries, upload, download)
    Photoshelter(PhotoShelterEmulateArgs),
}

#[derive(clap::Args)]
pub(super) struct PhotoShelterEmulateArgs {
    /// How many media to seed (in galleries of 250)
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// Seed of the generator: the same value gives the same library
    #[arg(long, default_value_t = 1962)]
    rng_seed: u64,
    /// Where to listen; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(clap::Args)]
pub(super) struct PreservicaEmulateArgs {
    /// How many assets to seed (in folders of 250)
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// Seed of the generator: the same value gives the same library
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// The server version to emulate; namespaces follow it (e.g. 6.2, 7.7, 8.1)
    #[arg(long, default_value = "7.7.0")]
    server_version: String,
    /// Where to listen; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Seconds an access token stays valid (Preservica's own is 15 minutes); a short
    /// lifetime exercises a client's re-login on 401
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    token_seconds: u64,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    webhooks: WebhookArgs,
}

/// How webhook deliveries behave (subscriptions at /api/webhook/subscriptions).
#[derive(clap::Args)]
pub(super) struct WebhookArgs {
    /// Milliseconds between an entity's change and its webhook deliveries
    #[arg(long, default_value_t = 100)]
    webhook_delay_ms: u64,
    /// Share of webhook deliveries sent twice, byte for byte (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    webhook_duplicate_share: f64,
    /// Write each delivery's entityRef as the entity's URL rather than the bare ref
    #[arg(long)]
    webhook_ref_as_url: bool,
    /// List subscriptions without their url (the contract allows either)
    #[arg(long)]
    webhook_list_without_url: bool,
}

impl WebhookArgs {
    fn options(&self, seed: u64) -> Result<crate::preservica::emulator::WebhookOptions> {
        use crate::preservica::emulator::{RefStyle, WebhookOptions};
        let share = self.webhook_duplicate_share;
        anyhow::ensure!(
            (0.0..=1.0).contains(&share),
            "--webhook-duplicate-share takes a share from 0 to 1, got {share}"
        );
        Ok(WebhookOptions {
            delay: std::time::Duration::from_millis(self.webhook_delay_ms),
            duplicate_share: share,
            seed,
            ref_style: if self.webhook_ref_as_url {
                RefStyle::Url
            } else {
                RefStyle::Bare
            },
            list_urls: !self.webhook_list_without_url,
            ..WebhookOptions::default()
        })
    }
}

/// Fault injection, off by default.
#[derive(clap::Args)]
pub(super) struct FaultArgs {
    /// Milliseconds added to every answer
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered 429 with Retry-After (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    throttle: f64,
    /// Share of requests answered 502 or 503 (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    unavailable: f64,
    /// Share of answers cut short (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    truncate: f64,
    /// Answer 429 with Retry-After beyond this many requests in flight at once (logins
    /// included), like a tenant's gateway; unlimited when not given
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_in_flight: Option<u64>,
}

impl FaultArgs {
    fn options(&self) -> Result<crate::emulate::FaultOptions> {
        for (name, v) in [
            ("--throttle", self.throttle),
            ("--unavailable", self.unavailable),
            ("--truncate", self.truncate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{name} takes a share from 0 to 1, got {v}"
            );
        }
        Ok(crate::emulate::FaultOptions {
            latency: std::time::Duration::from_millis(self.latency_ms),
            throttle_share: self.throttle,
            retry_after_secs: 1,
            unavailable_share: self.unavailable,
            truncate_share: self.truncate,
            max_in_flight: self.max_in_flight.map(|n| n as usize),
            // Logins stay reliable so that faults hit the data calls under test.
            exempt_prefixes: vec![crate::preservica::wire::ACCESS_TOKEN_PREFIX.into()],
            ..Default::default()
        })
    }
}

pub(super) fn emulate_photoshelter(args: PhotoShelterEmulateArgs) -> Result<Outcome> {
    use crate::photoshelter::emulator::{self, EmulatorOptions};
    let mut faults = args.faults.options()?;
    faults.exempt_prefixes = crate::photoshelter::wire::login_paths();
    let options = EmulatorOptions {
        seed_media: args.seed,
        seed: args.rng_seed,
        faults,
        capture: false,
        ..EmulatorOptions::default()
    };
    super::runtime()?.block_on(async {
        let emu = emulator::start(options, args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let o = emu.options();
        println!("PhotoShelter emulator listening on {}", emu.url());
        println!("  base_url    {}", emu.url());
        println!("  api key     {}  (v3: {})", o.api_key_v4, o.api_key_v3);
        println!("  email       {}", o.email);
        println!("  password    {}", o.password);
        println!("  org_id      {}", o.org_id);
        println!(
            "  media       {} in {} galleries",
            emu.media_ids().len(),
            emu.gallery_ids().len()
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        emu.stop().await;
        Ok(Outcome::Done)
    })
}

pub(super) fn emulate_preservica(args: PreservicaEmulateArgs) -> Result<Outcome> {
    use crate::preservica::emulator::{self, EmulatorOptions};
    let version =
        crate::preservica::wire::Version::parse(&args.server_version).with_context(|| {
            format!(
                "--server-version '{}' is not a version like 7.7.0",
                args.server_version
            )
        })?;
    let options = EmulatorOptions {
        version,
        seed_assets: args.seed,
        seed: args.rng_seed,
        token_lifetime: std::time::Duration::from_secs(args.token_seconds),
        faults: args.faults.options()?,
        webhooks: args.webhooks.options(args.rng_seed)?,
        ..EmulatorOptions::default()
    };
    super::runtime()?.block_on(async {
        let emu = emulator::start(options, args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let o = emu.options();
        println!(
            "Preservica emulator {} listening on {}",
            o.version,
            emu.url()
        );
        println!("  server    {}  (protocol http)", emu.server());
        println!("  username  {}", o.username);
        println!("  password  {}", o.password);
        println!("  tenant    {}", o.tenant);
        println!(
            "  assets    {} in {} folders",
            o.seed_assets,
            o.seed_assets.div_ceil(o.seed_folder_size)
        );
        println!(
            "  webhooks  {}  (deliveries {} ms after a change)",
            crate::preservica::client::SUBSCRIPTIONS_PATH,
            o.webhooks.delay.as_millis()
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        emu.stop().await;
        Ok(Outcome::Done)
    })
}
