// A Modbus TCP server (modbus-serial's ServerTCP) for pilotproof's field tests, configured by the
// JSON file named in argv[2] (tests/field/thirdparty.py, NodeModbusServer, writes it). Prints
// "READY <port>" when listening and exits on SIGTERM/SIGINT.
//
// Config keys: host ("127.0.0.1"), port (required), unitId (255: answer every unit; otherwise
// requests for other units get no answer), size (65536: addresses >= size answer exception 2,
// ILLEGAL DATA ADDRESS), holding / input ({"address": raw 16-bit word}), coils / discrete
// ({"address": bool}), counters ([{table, address, periodMs, step}]: a register incremented, a
// bit toggled, each period). Unset addresses read 0 / false; writes (FC 5, 6, 15, 16) are kept.
"use strict";

const fs = require("node:fs");
const { ServerTCP } = require("modbus-serial");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const size = config.size ?? 65536;
// ServerTCP turns port 0 into 502, so the caller picks a free port.
if (!config.port) throw new Error("config.port is required (ServerTCP cannot pick a free port)");

const table = (name) => new Map(Object.entries(config[name] || {}).map(([a, v]) => [Number(a), v]));
const tables = {
  holding: table("holding"),
  input: table("input"),
  coils: table("coils"),
  discrete: table("discrete"),
};

const ILLEGAL_ADDRESS = { modbusErrorCode: 0x02, msg: "Illegal data address" };
const reader = (name, fallback) => (address, _unit, callback) => {
  if (address >= size) return callback(ILLEGAL_ADDRESS);
  const value = tables[name].get(address) ?? fallback;
  return callback(null, typeof value === "boolean" ? value : Number(value) & 0xffff);
};
const writer = (name) => (address, value, _unit, callback) => {
  if (address >= size) return callback(ILLEGAL_ADDRESS);
  tables[name].set(address, value);
  return callback(null);
};

const vector = {
  getHoldingRegister: reader("holding", 0),
  getInputRegister: reader("input", 0),
  getCoil: reader("coils", false),
  getDiscreteInput: reader("discrete", false),
  setRegister: writer("holding"),
  setCoil: writer("coils"),
};

const BITS = ["coils", "discrete"];
const timers = (config.counters || []).map((c) => setInterval(() => {
  const t = tables[c.table];
  const now = t.get(c.address);
  if (BITS.includes(c.table)) t.set(c.address, !now);
  else t.set(c.address, (Number(now ?? 0) + (c.step ?? 1)) & 0xffff);
}, c.periodMs ?? 1000));

const server = new ServerTCP(vector, {
  host: config.host || "127.0.0.1", port: config.port, unitID: config.unitId ?? 255,
});
server.on("initialized", () => process.stdout.write(`READY ${config.port}\n`));
server.on("serverError", (err) => {
  console.error(err);
  process.exit(1);
});
server.on("error", (err) => console.error(err));

const stop = () => {
  timers.forEach(clearInterval);
  server.close(() => process.exit(0));
  for (const sock of server.socks.keys()) sock.destroy();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
