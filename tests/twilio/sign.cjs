// Prints the X-Twilio-Signature Twilio sends for a webhook, computed by Twilio's own library (twilio-node's
// RequestValidator, as `validateRequest` checks it). Input on stdin: {"authToken", "url", "params"} where params is
// an object of POST parameters (string values). Used by the server's tests to sign what the fake Twilio posts.
const { getExpectedTwilioSignature, validateRequest } = require("twilio/lib/webhooks/webhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { authToken, url, params } = JSON.parse(input);
  const signature = getExpectedTwilioSignature(authToken, url, params);
  // The library must accept what it computed, or this signer is not the library's.
  if (!validateRequest(authToken, signature, url, params)) {
    process.stderr.write("twilio's validateRequest refused its own signature\n");
    process.exit(1);
  }
  process.stdout.write(signature);
});
