//! Development tasks. `cargo xtask model …` builds the built-in embedding model
//! (`shared/core/models/scry-code.bin`) from a pinned corpus and a teacher transformer; the whole
//! recipe is `xtask/build-model.sh`, documented in `shared/core/models/README.md`.

mod distill;
mod pairs;
mod train;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Scry development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cut a corpus into documentation/code pairs and count its words.
    Pairs {
        /// Where pairs.jsonl and words.tsv go.
        #[arg(long)]
        work: PathBuf,
        /// Source trees to read.
        #[arg(required = true)]
        roots: Vec<PathBuf>,
    },
    /// Distil a teacher transformer into one vector per word (model2vec's method).
    Distill {
        #[arg(long)]
        work: PathBuf,
        /// A BERT-family model directory (all-MiniLM-L6-v2).
        #[arg(long)]
        teacher: PathBuf,
        /// Corpus words added to the teacher's vocabulary.
        #[arg(long, default_value_t = 24_000)]
        extra_words: usize,
        #[arg(long, default_value_t = 256)]
        dim: usize,
    },
    /// Train the distilled vectors on documentation→code pairs and write the model file.
    Train {
        #[arg(long)]
        work: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        settings: train::Settings,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Pairs { work, roots } => pairs::run(&work, &roots),
        Command::Distill {
            work,
            teacher,
            extra_words,
            dim,
        } => distill::run(&work, &teacher, extra_words, dim),
        Command::Train {
            work,
            out,
            settings,
        } => train::run(&work, &out, &settings),
    }
}
