mod probe_cli;
mod probe_oracle;
mod probe_oracledb;
mod probe_standin;
mod probe_tns_listener;
