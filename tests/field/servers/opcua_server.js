// A node-opcua server for pilotproof's field tests, configured by the JSON file named in argv[2]
// (tests/field/thirdparty.py, NodeOpcUaServer, writes it). Prints "READY <endpoint url>" when
// listening and shuts down on SIGTERM/SIGINT.
//
// Config keys (all optional but pkiDir): host ("127.0.0.1"), port (0: any free one),
// resourcePath ("/UA/field"), namespaceUri, applicationUri, pkiDir (node-opcua's PKI: own/,
// trusted/certs, rejected/ …), securityModes (["None"]; any of None, Sign, SignAndEncrypt, with
// policy Basic256Sha256, plus None when "None"), allowAnonymous (true), users ({name: password}),
// autoAcceptCertificates (false: unknown client certificates land in rejected/), variables: a list
// of {nodeId ("s=Press02.Force", "i=5001"), dataType ("Double"), value, status ("Good" or any
// StatusCodes name), behaviour: "constant" (written once, never again) | "counter" (value + step
// each periodMs) | "sine" (offset + amplitude·sin(2πt/cycleMs), every periodMs), parent (object
// under Objects; defaults to the string id before its last "."), browseName}.
"use strict";

const fs = require("node:fs");
const opcua = require("node-opcua");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const MODES = {
  None: opcua.MessageSecurityMode.None,
  Sign: opcua.MessageSecurityMode.Sign,
  SignAndEncrypt: opcua.MessageSecurityMode.SignAndEncrypt,
};
const TYPES = ["Double", "Float", "Int16", "Int32", "UInt16", "UInt32", "Int64", "UInt64",
  "Boolean", "String", "Byte", "SByte"];

// Turn a number (or the configured value) into what a Variant of `type` holds.
function coerce(type, value) {
  switch (type) {
    case "Boolean": return typeof value === "number" ? value % 2 === 1 : Boolean(value);
    case "String": return String(value);
    case "Double": case "Float": return Number(value);
    case "Int64": return opcua.coerceInt64(String(BigInt(Math.round(Number(value)))));
    case "UInt64": return opcua.coerceUInt64(String(BigInt(Math.round(Number(value)))));
    default: return Math.round(Number(value));
  }
}

function statusCode(name) {
  const code = opcua.StatusCodes[name || "Good"];
  if (!code) throw new Error(`unknown status code ${name}`);
  return code;
}

function addVariables(addressSpace, namespace) {
  const parents = new Map();
  const objects = addressSpace.rootFolder.objects;
  const placeUnder = (name) => {
    if (!name) return { organizedBy: objects };
    if (!parents.has(name)) {
      const nodeId = `s=${name}`;
      parents.set(name, namespace.addObject({ organizedBy: objects, browseName: name, nodeId }));
    }
    return { componentOf: parents.get(name) };
  };
  const timers = [];
  for (const v of config.variables || []) {
    const type = v.dataType || "Double";
    if (!TYPES.includes(type)) throw new Error(`unsupported dataType ${type}`);
    // "s=Press02.Force" sits under object "Press02" with browse name "Force" unless told otherwise.
    const id = v.nodeId.startsWith("s=") ? v.nodeId.slice(2) : null;
    const dot = id ? id.lastIndexOf(".") : -1;
    const parent = v.parent !== undefined ? v.parent : dot > 0 ? id.slice(0, dot) : null;
    const browseName = v.browseName || (id ? id.slice(dot + 1) : v.nodeId);
    const variable = namespace.addVariable({
      ...placeUnder(parent), nodeId: v.nodeId, browseName,
      dataType: type, minimumSamplingInterval: v.minimumSamplingInterval ?? 50,
    });
    const status = statusCode(v.status);
    const scalar = opcua.VariantArrayType.Scalar;
    const set = (x) => variable.setValueFromSource(new opcua.Variant({
      dataType: opcua.DataType[type], arrayType: scalar, value: coerce(type, x),
    }), status);
    const behaviour = v.behaviour || "constant";
    const start = v.value ?? (type === "String" ? "" : 0);
    if (behaviour === "constant") {
      set(start); // written once: a subscription sees one initial notification and then nothing
    } else if (behaviour === "counter") {
      let n = Number(start);
      set(n);
      timers.push(setInterval(() => set((n += v.step ?? 1)), v.periodMs ?? 1000));
    } else if (behaviour === "sine") {
      const t0 = Date.now();
      const wave = () => (v.offset ?? 0) +
        (v.amplitude ?? 1) * Math.sin((2 * Math.PI * (Date.now() - t0)) / (v.cycleMs ?? 10000));
      set(wave());
      timers.push(setInterval(() => set(wave()), v.periodMs ?? 1000));
    } else {
      throw new Error(`unknown behaviour ${behaviour}`);
    }
  }
  return timers;
}

async function main() {
  const modes = (config.securityModes || ["None"]).map((m) => {
    if (!(m in MODES)) throw new Error(`unknown security mode ${m}`);
    return MODES[m];
  });
  const policies = [opcua.SecurityPolicy.Basic256Sha256];
  if (modes.includes(opcua.MessageSecurityMode.None)) policies.unshift(opcua.SecurityPolicy.None);
  const users = config.users || {};
  const resourcePath = config.resourcePath ?? "/UA/field";
  const host = config.host || "127.0.0.1";
  const certificateManager = new opcua.OPCUACertificateManager({
    rootFolder: config.pkiDir,
    automaticallyAcceptUnknownCertificate: !!config.autoAcceptCertificates,
  });
  const server = new opcua.OPCUAServer({
    port: config.port || 0,
    host,
    hostname: host,
    alternateHostname: [host, "localhost"], // also puts both in a new certificate's SAN
    resourcePath,
    securityModes: modes,
    securityPolicies: policies,
    allowAnonymous: config.allowAnonymous !== false,
    userManager: {
      isValidUser: (name, password) => Object.hasOwn(users, name) && users[name] === password,
    },
    serverCertificateManager: certificateManager,
    serverInfo: {
      applicationUri: config.applicationUri || "urn:pilotproof:field:node-opcua",
      productUri: "urn:pilotproof:field:node-opcua",
      applicationName: { text: "pilotproof field node-opcua" },
    },
    buildInfo: { productName: "pilotproof field node-opcua", manufacturerName: "press vendor" },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  const namespace = addressSpace.registerNamespace(config.namespaceUri || "urn:press-vendor:line");
  const timers = addVariables(addressSpace, namespace);
  await server.start();

  const port = server.endpoints[0].port;
  process.stdout.write(`READY opc.tcp://${host}:${port}${resourcePath}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    timers.forEach(clearInterval);
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
