// The page every Cairn webview starts from: one script bundle and its stylesheet from media/, under
// a strict Content Security Policy (nothing but the extension's own files, scripts only with a
// fresh nonce).
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';

export interface WebviewPage {
  /** The bundle's name in media/: `NAME.js` and `NAME.css`. */
  bundle: string;
  title: string;
  /** The id of the element the script renders into. */
  rootId: string;
}

export function webviewHtml(webview: vscode.Webview, media: vscode.Uri, page: WebviewPage): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(media, `${page.bundle}.js`));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, `${page.bundle}.css`));
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `img-src ${webview.cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}" nonce="${nonce}">
<title>${page.title}</title>
</head>
<body>
<div id="${page.rootId}"></div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}
