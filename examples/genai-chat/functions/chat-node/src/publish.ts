// Publish one piece of an answer through the IAM-only `sendChunk` mutation, signed with SigV4
// (service `appsync`) using the function's own credentials, as AWS's AppSync samples do.
import { Sha256 } from "@aws-crypto/sha256-js";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

export interface Chunk {
  conversationId: string;
  seq: number;
  text: string;
  done: boolean;
  error?: string | null;
  model?: string | null;
}

const SEND_CHUNK = /* GraphQL */ `
  mutation SendChunk($conversationId: ID!, $seq: Int!, $text: String!, $done: Boolean!, $error: String, $model: String) {
    sendChunk(conversationId: $conversationId, seq: $seq, text: $text, done: $done, error: $error, model: $model) {
      conversationId
      seq
      text
      done
      error
      model
    }
  }
`;

const PUBLISH_ATTEMPTS = 3;
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

const endpoint = new URL(process.env.GRAPHQL_URL!);
const signer = new SignatureV4({
  credentials: defaultProvider(),
  region: process.env.AWS_REGION!,
  service: "appsync",
  sha256: Sha256,
});

export class PublishError extends Error {
  name = "PublishError";
}

/** POST `sendChunk`; AppSync reports refusals inside an HTTP 200, so `errors` is checked too. */
export async function publish(chunk: Chunk): Promise<void> {
  const body = JSON.stringify({ query: SEND_CHUNK, variables: chunk });
  for (let attempt = 1; ; attempt++) {
    // Signed on every attempt: the date is part of the signature and credentials may rotate.
    const signed = await signer.sign(
      new HttpRequest({
        method: "POST",
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: endpoint.port ? Number(endpoint.port) : undefined,
        path: endpoint.pathname,
        headers: { "content-type": "application/json", host: endpoint.host },
        body,
      }),
    );
    let response: Response;
    try {
      response = await fetch(endpoint, { method: "POST", headers: signed.headers, body });
    } catch (err) {
      if (attempt === PUBLISH_ATTEMPTS) throw new PublishError(`sendChunk could not reach ${endpoint}: ${err}`);
      await sleep(200 * 2 ** attempt);
      continue;
    }
    const text = await response.text();
    if (response.ok) {
      const result = JSON.parse(text);
      if (result.errors) throw new PublishError(`sendChunk was refused: ${JSON.stringify(result.errors).slice(0, 500)}`);
      return;
    }
    if (!RETRYABLE_STATUS.has(response.status) || attempt === PUBLISH_ATTEMPTS) {
      throw new PublishError(`sendChunk failed with HTTP ${response.status}: ${text.slice(0, 500)}`);
    }
    await sleep(200 * 2 ** attempt);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
