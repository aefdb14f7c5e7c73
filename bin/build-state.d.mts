export declare const ROOMS: readonly string[];
export declare function staleReason(root: string): string | undefined;
