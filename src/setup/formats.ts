/** Reading and writing config text as a `yaml` Document, for YAML and JSON files alike. */
import { Document, parseDocument } from "yaml";
import { SettingsError } from "../lib/settings.ts";

export type ConfigFormat = {
  /** The file's text as a Document; a file that does not parse is refused. */
  parse: (text: string) => Document;
  /** The Document as text, in the style of `original` where that matters. */
  stringify: (doc: Document, original: string) => string;
};

export const yamlFormat: ConfigFormat = {
  parse(text) {
    const doc = parseDocument(text);
    const error = doc.errors[0];
    if (error) throw new SettingsError(`not valid YAML (${error.message.split("\n")[0]})`);
    return doc;
  },
  stringify: (doc, original) => doc.toString({ lineWidth: 0, flowCollectionPadding: false, indentSeq: indentsSequences(original) }),
};

/**
 * Goose writes its file with serde_yaml, which puts a list's "- " level with its key;
 * following whatever the file already does keeps the diff to the lines we change.
 */
function indentsSequences(text: string): boolean {
  const first = /^( *)[^\s#-][^\n]*:[ \t]*\n( *)- /m.exec(text);
  return first ? first[2]!.length > first[1]!.length : true;
}

export const jsonFormat: ConfigFormat = {
  parse(text) {
    let value: unknown;
    try {
      value = text.trim() === "" ? {} : JSON.parse(text);
    } catch (error) {
      throw new SettingsError(`not valid JSON (${(error as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SettingsError("not a JSON object");
    return new Document(value);
  },
  stringify: (doc) => `${JSON.stringify(doc.toJS(), null, 2)}\n`,
};
