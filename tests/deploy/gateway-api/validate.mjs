// Validates Gateway API objects offline against the schemas of @kubernetes-models/gateway-api.
// Input on stdin: a JSON array of objects (the Python test converts the YAML; node has no YAML
// parser here). Objects of other API groups are refused: the caller sends only Gateway API ones.
// Output: one line per problem; exit 1 if any object is invalid or of an unknown kind.
import * as groups from "@kubernetes-models/gateway-api";

const GROUP = "gateway.networking.k8s.io";

function modelFor(apiVersion, kind) {
  const [group, version] = String(apiVersion).split("/");
  if (group !== GROUP || version === undefined) return undefined;
  return groups.gatewayNetworkingK8sIo[version]?.[kind];
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const objects = JSON.parse(Buffer.concat(chunks).toString("utf8"));
let failures = 0;
for (const object of objects) {
  const name = `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
  const Model = modelFor(object.apiVersion, object.kind);
  if (Model === undefined) {
    console.log(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
    failures += 1;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`${name}: valid`);
  } catch (error) {
    console.log(`${name}: INVALID ${error.message}`);
    failures += 1;
  }
}
process.exit(failures === 0 ? 0 : 1);
