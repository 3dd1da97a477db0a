//! A mutation fuzzer for the verifier that runs on stable Rust.
//!
//! Why this and not cargo-fuzz: libFuzzer's coverage instrumentation needs
//! a nightly compiler, and this project builds with stable only. The
//! verifier promises that no upload can make it panic, hang or allocate
//! without bound. A structure-blind mutation fuzzer over a seed corpus of
//! real and hostile files checks that promise against millions of broken
//! files. It covers the parsers the crate owns (the PDF tokenizer, the
//! container walkers) and the decoders and parsers it drives.
//!
//! Each input runs under `catch_unwind` (a panic is a failure). It is timed:
//! slower than `--slow-ms` is a failure, and a watchdog ends the process
//! when one input runs for a minute. Its peak heap is measured by a counting
//! global allocator: more than `--max-alloc-mib` is a failure. Image
//! targets also check two properties of stripping. It is idempotent, and an
//! image that passes `check_image` still passes after stripping, with the
//! same dimensions. The type sniffing target checks that `check_type`
//! agrees with `detect`.
//!
//! An input depends only on `(--seed, target, iteration)`, so any input can
//! be reproduced: `--replay jpeg:123456` regenerates it, saves it and runs it.
//! Commands and figures: docs/fuzzing.md.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod mutate;
mod seeds;

use std::cell::RefCell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use broker_verifier::corpus::alloc;
use broker_verifier::{Format, Limits, check_document, check_image, check_type, detect, strip_metadata};

use self::mutate::{Rng, fix_png_crcs, mutate};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const USAGE: &str = "\
usage: fuzz [--inputs N | --seconds S] [--seed N] [--target NAME]... [--max-alloc-mib N]
            [--slow-ms N] [--max-len N] [--seeds DIR] [--failures DIR]
       fuzz --replay TARGET:ITERATION [--seed N] ...
       fuzz --write-seeds [--seeds DIR]

  --inputs N        inputs in total, shared evenly by the targets (default 100000)
  --seconds S       instead, run each target for S seconds
  --seed N          seed of every mutation (default 1)
  --target NAME     only this target (repeatable): sniff jpeg png webp csv json pdf zip
  --max-alloc-mib N peak heap above which an input fails (default 128)
  --slow-ms N       run time above which an input fails (default 1000)
  --max-len N       largest mutated input, in bytes (default 65536)
  --seeds DIR       seed corpus (default: the crate's fuzz/seeds)
  --failures DIR    where failing inputs are saved (default: <temp>/verifier-fuzz-failures)";

/// A watchdog ends the process when one input runs this long (it may never
/// return, so it cannot be reported like a slow one).
const HANG: Duration = Duration::from_secs(60);

/// What one target made of an input.
enum Verdict {
    Accepted,
    Refused,
    /// A property that must hold for every input does not.
    Broken(String),
}

struct Target {
    name: &'static str,
    check: Check,
    /// Applied to half of the mutated inputs.
    repair: Option<fn(&mut [u8])>,
}

/// What a target runs on each input.
#[derive(Clone, Copy)]
enum Check {
    Sniff,
    Image(Format),
    Document(Format),
}

impl Check {
    fn run(self, bytes: &[u8]) -> Verdict {
        match self {
            Check::Sniff => sniff(bytes),
            Check::Image(format) => image(format, bytes),
            Check::Document(format) => document(format, bytes),
        }
    }
}

const fn target(name: &'static str, check: Check) -> Target {
    Target {
        name,
        check,
        repair: None,
    }
}

const TARGETS: [Target; 8] = [
    target("sniff", Check::Sniff),
    target("jpeg", Check::Image(Format::Jpeg)),
    Target {
        repair: Some(fix_png_crcs),
        ..target("png", Check::Image(Format::Png))
    },
    target("webp", Check::Image(Format::WebP)),
    target("csv", Check::Document(Format::Csv)),
    target("json", Check::Document(Format::Json)),
    target("pdf", Check::Document(Format::Pdf)),
    target("zip", Check::Document(Format::Zip)),
];

/// Image limits small enough that decoding stays fast and the decoder's
/// allowance (8 bytes a pixel plus 64 MiB) stays under the default
/// `--max-alloc-mib`; the document limits are the defaults.
fn limits() -> Limits {
    Limits {
        max_image_side: 1024,
        max_image_pixels: 1 << 20,
        ..Limits::default()
    }
}

fn sniff(bytes: &[u8]) -> Verdict {
    let found = detect(bytes);
    for format in Format::ALL {
        if check_type(format, bytes).is_ok() != (found == Some(format)) {
            return Verdict::Broken(format!("check_type({format:?}) disagrees with detect ({found:?})"));
        }
    }
    if found.is_some() {
        Verdict::Accepted
    } else {
        Verdict::Refused
    }
}

fn image(format: Format, bytes: &[u8]) -> Verdict {
    let limits = limits();
    let checked = check_image(format, bytes, &limits);
    let stripped = match (strip_metadata(format, bytes), &checked) {
        (Ok(stripped), _) => stripped,
        (Err(_), Err(_)) => return Verdict::Refused,
        (Err(why), Ok(_)) => return Verdict::Broken(format!("check_image accepts what the stripper refuses: {why}")),
    };
    match strip_metadata(format, &stripped.bytes) {
        Ok(again) if again.bytes == stripped.bytes => {}
        Ok(_) => return Verdict::Broken("stripping twice differs from stripping once".into()),
        Err(why) => return Verdict::Broken(format!("the stripper refuses its own output: {why}")),
    }
    match checked {
        Err(_) => Verdict::Refused,
        Ok(info) => match check_image(format, &stripped.bytes, &limits) {
            Ok(after) if after == info => Verdict::Accepted,
            other => Verdict::Broken(format!("a valid image fails check_image after stripping: {other:?}")),
        },
    }
}

fn document(format: Format, bytes: &[u8]) -> Verdict {
    match check_document(format, Cursor::new(bytes), &limits()) {
        Ok(()) => Verdict::Accepted,
        Err(_) => Verdict::Refused,
    }
}

struct Options {
    inputs: u64,
    seconds: Option<f64>,
    seed: u64,
    targets: Vec<String>,
    max_alloc: usize,
    slow: Duration,
    max_len: usize,
    seeds: PathBuf,
    failures: PathBuf,
    write_seeds: bool,
    replay: Option<(String, u64)>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        inputs: 100_000,
        seconds: None,
        seed: 1,
        targets: Vec::new(),
        max_alloc: 128 << 20,
        slow: Duration::from_millis(1000),
        max_len: 64 * 1024,
        seeds: Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds"),
        failures: std::env::temp_dir().join("verifier-fuzz-failures"),
        write_seeds: false,
        replay: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--write-seeds" {
            options.write_seeds = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {value:?} is not a number"))
        };
        match flag.as_str() {
            "--inputs" => options.inputs = number()?,
            "--seconds" => {
                let seconds = value
                    .parse()
                    .map_err(|_| format!("{flag}: {value:?} is not a number"))?;
                options.seconds = Some(seconds);
            }
            "--seed" => options.seed = number()?,
            "--target" => options.targets.push(value),
            "--max-alloc-mib" => options.max_alloc = usize::try_from(number()? << 20).map_err(|e| e.to_string())?,
            "--slow-ms" => options.slow = Duration::from_millis(number()?),
            "--max-len" => options.max_len = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--seeds" => options.seeds = value.into(),
            "--failures" => options.failures = value.into(),
            "--replay" => {
                let (target, iteration) = value
                    .split_once(':')
                    .and_then(|(t, i)| Some((t.to_owned(), i.parse().ok()?)))
                    .ok_or_else(|| format!("--replay wants TARGET:ITERATION, not {value:?}"))?;
                options.replay = Some((target, iteration));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    for name in options.targets.iter().chain(options.replay.iter().map(|(t, _)| t)) {
        if !TARGETS.iter().any(|t| t.name == name) {
            return Err(format!("unknown target {name:?}"));
        }
    }
    Ok(options)
}

/// The seeds of every target, by target index. `sniff` gets all of them.
fn load_seeds(dir: &Path) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let read_dir = |name: &str| -> Result<Vec<Vec<u8>>, String> {
        let path = dir.join(name);
        let entries =
            std::fs::read_dir(&path).map_err(|e| format!("{}: {e} (run with --write-seeds)", path.display()))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read(f).map_err(|e| format!("{}: {e}", f.display())))
            .collect()
    };
    let mut seeds = Vec::new();
    for target in &TARGETS[1..] {
        let files = read_dir(target.name)?;
        if files.is_empty() {
            return Err(format!("no seeds for {} in {}", target.name, dir.display()));
        }
        seeds.push(files);
    }
    seeds.insert(0, seeds.concat());
    Ok(seeds)
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

/// Input `iteration` of `target`: the seeds themselves first, then mutants.
fn make_input(target: &Target, seeds: &[Vec<u8>], seed: u64, iteration: u64, max_len: usize) -> Vec<u8> {
    if let Some(original) = usize::try_from(iteration).ok().and_then(|i| seeds.get(i)) {
        return original.clone();
    }
    let mut rng = Rng::new(seed ^ fnv1a(target.name) ^ iteration.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut input = seeds[rng.below(seeds.len())].clone();
    mutate(&mut input, &mut rng, seeds, max_len);
    if let Some(repair) = target.repair
        && rng.below(2) == 0
    {
        repair(&mut input);
    }
    input
}

thread_local! {
    /// The message of the last panic on this thread.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What the watchdog sees: when the current input started (milliseconds
/// since `EPOCH`, plus one; zero when idle), and which input it is.
static RUNNING_SINCE: AtomicU64 = AtomicU64::new(0);
static RUNNING_TARGET: AtomicUsize = AtomicUsize::new(0);
static RUNNING_ITERATION: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

fn start_watchdog(seed: u64) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let since = RUNNING_SINCE.load(Relaxed);
            if since != 0 && now_ms().saturating_sub(since) > HANG.as_millis() as u64 {
                let target = TARGETS[RUNNING_TARGET.load(Relaxed)].name;
                let iteration = RUNNING_ITERATION.load(Relaxed);
                eprintln!(
                    "HANG: {target} input {iteration} has run for more than {} s; reproduce with --seed {seed} --replay {target}:{iteration}",
                    HANG.as_secs()
                );
                std::process::exit(3);
            }
        }
    });
}

/// How one input went.
struct Run {
    verdict: Result<Verdict, String>,
    elapsed: Duration,
    peak: usize,
}

fn run(target_index: usize, iteration: u64, input: &[u8]) -> Run {
    RUNNING_TARGET.store(target_index, Relaxed);
    RUNNING_ITERATION.store(iteration, Relaxed);
    RUNNING_SINCE.store(now_ms(), Relaxed);
    let baseline = alloc::start();
    let started = Instant::now();
    let verdict = panic::catch_unwind(AssertUnwindSafe(|| TARGETS[target_index].check.run(input)));
    let elapsed = started.elapsed();
    let peak = alloc::peak_since(baseline);
    RUNNING_SINCE.store(0, Relaxed);
    let verdict = verdict.map_err(|_| {
        PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".into())
    });
    Run { verdict, elapsed, peak }
}

/// Why a run failed, if it did.
fn failure(run: &Run, options: &Options) -> Option<String> {
    match &run.verdict {
        Err(panic) => Some(format!("panic: {panic}")),
        Ok(Verdict::Broken(why)) => Some(why.clone()),
        Ok(_) if run.elapsed > options.slow => Some(format!("slow: {} ms", run.elapsed.as_millis())),
        Ok(_) if run.peak > options.max_alloc => Some(format!("allocated {} MiB at peak", run.peak >> 20)),
        Ok(_) => None,
    }
}

fn save(options: &Options, target: &str, iteration: u64, input: &[u8]) -> PathBuf {
    let path = options
        .failures
        .join(format!("{target}-seed{}-{iteration}.bin", options.seed));
    let saved = std::fs::create_dir_all(&options.failures).and_then(|()| std::fs::write(&path, input));
    if let Err(e) = saved {
        eprintln!("could not save {}: {e}", path.display());
    }
    path
}

#[derive(Default, Clone)]
struct Stats {
    inputs: u64,
    accepted: u64,
    failures: u64,
    slowest: Duration,
    /// The iteration of the slowest input, for `--replay`.
    slowest_input: u64,
    peak: usize,
}

/// At most this many failures are printed.
const PRINTED_FAILURES: u64 = 50;

fn fuzz(options: &Options, seeds: &[Vec<Vec<u8>>]) -> Vec<Stats> {
    let chosen: Vec<usize> = (0..TARGETS.len())
        .filter(|&i| options.targets.is_empty() || options.targets.iter().any(|t| t == TARGETS[i].name))
        .collect();
    let mut stats = vec![Stats::default(); TARGETS.len()];
    let mut failures = 0u64;
    let mut total = 0u64;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut one = |index: usize, stats: &mut Stats| {
        let iteration = stats.inputs;
        let input = make_input(&TARGETS[index], &seeds[index], options.seed, iteration, options.max_len);
        let run = run(index, iteration, &input);
        stats.inputs += 1;
        total += 1;
        stats.accepted += u64::from(matches!(run.verdict, Ok(Verdict::Accepted)));
        if run.elapsed > stats.slowest {
            stats.slowest = run.elapsed;
            stats.slowest_input = iteration;
        }
        stats.peak = stats.peak.max(run.peak);
        if let Some(why) = failure(&run, options) {
            stats.failures += 1;
            failures += 1;
            let path = save(options, TARGETS[index].name, iteration, &input);
            if failures <= PRINTED_FAILURES {
                eprintln!(
                    "FAIL {} input {iteration}: {why} (saved to {})",
                    TARGETS[index].name,
                    path.display()
                );
            }
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "[{:>6.0} s] {total} inputs, {failures} failures so far",
                started.elapsed().as_secs_f64()
            );
        }
    };
    match options.seconds {
        Some(seconds) => {
            for &index in &chosen {
                let until = Instant::now() + Duration::from_secs_f64(seconds);
                while Instant::now() < until {
                    one(index, &mut stats[index]);
                }
            }
        }
        None => {
            let count = chosen.len() as u64;
            let quota = |position: u64| options.inputs / count + u64::from(position < options.inputs % count);
            let mut remaining = true;
            while remaining {
                remaining = false;
                for (position, &index) in chosen.iter().enumerate() {
                    if stats[index].inputs < quota(position as u64) {
                        one(index, &mut stats[index]);
                        remaining = true;
                    }
                }
            }
        }
    }
    stats
}

fn report(stats: &[Stats], elapsed: Duration) -> u64 {
    println!(
        "{:<6} {:>11} {:>10} {:>8} {:>11} {:>13} {:>13}",
        "target", "inputs", "accepted", "failed", "slowest ms", "slowest input", "peak heap KiB"
    );
    for (target, s) in TARGETS.iter().zip(stats).filter(|(_, s)| s.inputs > 0) {
        println!(
            "{:<6} {:>11} {:>10} {:>8} {:>11.1} {:>13} {:>13}",
            target.name,
            s.inputs,
            s.accepted,
            s.failures,
            s.slowest.as_secs_f64() * 1000.0,
            s.slowest_input,
            s.peak >> 10
        );
    }
    let inputs: u64 = stats.iter().map(|s| s.inputs).sum();
    let failures: u64 = stats.iter().map(|s| s.failures).sum();
    println!(
        "fuzz: {inputs} inputs in {:.0} s ({:.0}/s), {failures} failures",
        elapsed.as_secs_f64(),
        inputs as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    failures
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("fuzz: {why}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if options.write_seeds {
        if let Err(e) = seeds::write(&options.seeds) {
            eprintln!("fuzz: writing seeds: {e}");
            std::process::exit(2);
        }
        return;
    }
    let seeds = load_seeds(&options.seeds).unwrap_or_else(|why| {
        eprintln!("fuzz: {why}");
        std::process::exit(2);
    });
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        PANIC.with(|p| *p.borrow_mut() = Some(format!("{message} at {location}")));
    }));
    start_watchdog(options.seed);

    if let Some((name, iteration)) = &options.replay {
        let index = TARGETS.iter().position(|t| t.name == name).unwrap_or_default();
        let input = make_input(
            &TARGETS[index],
            &seeds[index],
            options.seed,
            *iteration,
            options.max_len,
        );
        let path = save(&options, name, *iteration, &input);
        let run = run(index, *iteration, &input);
        let outcome = match (&run.verdict, failure(&run, &options)) {
            (_, Some(why)) => why,
            (Ok(Verdict::Accepted), None) => "accepted".into(),
            (_, None) => "refused".into(),
        };
        println!(
            "{name} input {iteration} ({} bytes, saved to {}): {outcome}; {} ms, {} KiB peak heap",
            input.len(),
            path.display(),
            run.elapsed.as_millis(),
            run.peak >> 10
        );
        std::process::exit(i32::from(failure(&run, &options).is_some()));
    }

    let started = Instant::now();
    let stats = fuzz(&options, &seeds);
    if report(&stats, started.elapsed()) > 0 {
        eprintln!("failing inputs are in {}", options.failures.display());
        std::process::exit(1);
    }
}
