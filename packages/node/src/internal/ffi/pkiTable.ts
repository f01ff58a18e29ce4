/**
 * libcrypto functions for issuing test certificates (`pkiGenerateKey`, `pkiIssueCertificate`),
 * declared like `table.ts` and bound together with it by `load.ts`.
 */
import type { Decl } from "./table.js"

export const pkiTable = {} as const satisfies Record<string, Decl<ReadonlyArray<any>, unknown, boolean>>
