//! `opentrade-callback`: reports Tmall "recharge-and-get" order outcomes to the Taobao
//! Open Platform API `taobao.wt.trade.opentrade.resultcallback`, from CSV and Excel
//! exports, deduplicated against the ledger, the shop's database of orders. The
//! contract is SPEC.md; the map is ARCHITECTURE.md. This file is the module list: the
//! commands start in `cmd::run`.

pub mod advice;
pub mod catalogue;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod columns;
pub mod config;
pub mod console;
pub mod cores;
pub mod csvio;
pub mod desk;
pub mod environment;
pub mod exit;
pub mod input;
pub mod ledger;
pub mod listen;
pub mod mask;
pub mod money;
pub mod order;
pub mod outfile;
pub mod plan;
pub mod reason;
pub mod reconcile;
pub mod results;
pub mod roles;
pub mod scratch;
pub mod send;
pub mod signals;
pub mod simulator;
pub mod status;
pub mod text;
pub mod textfile;
pub mod top;
pub mod xlsx;
