/** How a person runs one of this program's commands: the installed binary, or `npm run` in a checkout. */
export const selfCommand = (command: string) => (Bun.isStandaloneExecutable ? `agent-mesh ${command}` : `npm run -s ${command} --`);
