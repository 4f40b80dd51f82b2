/** SHA-256 of text, as hex: for stored hashes of secrets and requests. */
export const sha256Hex = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");
