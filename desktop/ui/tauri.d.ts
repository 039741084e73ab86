// The part of Tauri's global API (`app.withGlobalTauri`) the page uses.
interface TauriEvent<T> {
  event: string;
  payload: T;
}

interface Window {
  __TAURI__: {
    core: { invoke(cmd: string, args?: Record<string, unknown>): Promise<unknown> };
    event: { listen(event: string, handler: (event: TauriEvent<unknown>) => void): Promise<() => void> };
  };
}
